"""The procedural face renderer and the CK+48-style writer (what test_data_prep leaves out)."""

import itertools
import json
import os

import cv2
import numpy as np
import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.generated import synthetic
from keras_dmtl.data.labels.action_units import estimate_relatedness


def _person(seed, **overrides):
    person = synthetic.random_identity(np.random.default_rng(seed))
    person.update(overrides)
    return person


def _darkest_point_near(image, point, radius=5):
    """The darkest pixel of the smoothed image within `radius` of `point` (x, y)."""
    smooth = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 1.5)
    x0, y0 = int(round(point[0])) - radius, int(round(point[1])) - radius
    window = smooth[y0:y0 + 2 * radius + 1, x0:x0 + 2 * radius + 1]
    row, column = np.unravel_index(np.argmin(window), window.shape)
    return np.array([x0 + column, y0 + row], np.float64)


def test_eye_landmarks_sit_on_the_drawn_pupils():
    errors = []
    for seed in range(8):
        image, landmarks = synthetic.render_face(_person(seed, glasses=False), "neutral", 0.0,
                                                 np.random.default_rng(100 + seed), size=256)
        assert landmarks.shape == (5, 2)
        errors += [_darkest_point_near(image, eye) - eye for eye in landmarks[:2]]
    errors = np.array(errors)
    assert np.abs(errors).max() < 1.0, errors
    assert np.abs(errors.mean(axis=0)).max() < 0.25, "landmarks are biased"


def test_landmarks_are_ordered_like_the_alignment_template():
    _, (left_eye, right_eye, nose, mouth_left, mouth_right) = synthetic.render_face(
        _person(3), "happy", 1.0, np.random.default_rng(0))
    assert left_eye[0] < nose[0] < right_eye[0]
    assert mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_every_default_expression_looks_different_at_the_apex():
    person = _person(5)
    apex = {name: synthetic.render_face(person, name, 1.0, np.random.default_rng(0))[0]
            for name in synthetic.DEFAULT_EXPRESSIONS}
    for first, second in itertools.combinations(synthetic.DEFAULT_EXPRESSIONS, 2):
        difference = np.abs(apex[first].astype(int) - apex[second]).mean()
        assert difference > 0.5, (first, second, difference)


def test_expression_change_grows_with_intensity_like_an_onset_to_apex_sequence():
    person = _person(7)

    def render(intensity):
        # The same jitter draws each time: only the intensity differs.
        return synthetic.render_face(person, "surprise", intensity,
                                     np.random.default_rng(0))[0].astype(int)

    neutral = render(0.0)
    changes = [np.abs(render(level) - neutral).mean() for level in (0.3, 0.6, 1.0)]
    assert changes[0] < changes[1] < changes[2]


def test_rgb_rendering_keeps_the_face_and_adds_a_skin_tint():
    person = _person(2)
    gray, _ = synthetic.render_face(person, "fear", 0.8, np.random.default_rng(4), size=48)
    rgb, _ = synthetic.render_face(person, "fear", 0.8, np.random.default_rng(4), size=48,
                                   channels=3)
    assert rgb.shape == (48, 48, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[:, :, 0], gray)
    assert rgb[:, :, 2].mean() < rgb[:, :, 0].mean()


def _write(out, **overrides):
    settings = dict(num_identities=2, expressions=("anger", "happy"), sequences_per_pair=1,
                    frames_per_sequence=2, image_size=24, seed=0)
    settings.update(overrides)
    return synthetic.write_synthetic_dataset(out, **settings)


def _contents(folder):
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(root, name), "rb") as stream:
                found[os.path.relpath(os.path.join(root, name), folder)] = stream.read()
    return found


def test_writer_is_deterministic_for_a_seed_and_rewrites_for_new_settings(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert _write(first) == first
    _write(second)
    assert _contents(first) == _contents(second)

    _write(second, seed=1)
    assert _contents(second) != _contents(first)
    with open(second / "generated_faces.json") as stream:
        assert json.load(stream)["seed"] == 1
    assert sorted(os.listdir(second / "anger")) == sorted(os.listdir(first / "anger"))


def test_writer_rejects_an_unknown_expression_and_leaves_nothing_behind(tmp_path):
    with pytest.raises(ValueError, match="joy"):
        _write(tmp_path / "faces", expressions=("happy", "joy"))
    assert os.listdir(tmp_path) == []


# The lowest intensity of a generated frame: the writer's 3-frame sequences start at
# 0.6 * (1 - 2 * 0.12); the streams at 0.6.
_LOWEST_INTENSITY = 0.6 * (1 - 2 * 0.12)


def test_action_units_code_what_the_renderer_draws():
    for name, shape in synthetic._EXPRESSION_SHAPES.items():
        curve, opening, width, lift, brow, tilt, eyes, wrinkle = shape
        coded = set(synthetic.EXPRESSION_ACTION_UNITS[name])
        # render_face fills the open mouth dark above opening * intensity 0.2 and
        # draws nose wrinkles above wrinkle * intensity 0.3.
        assert (25 in coded) == (opening * _LOWEST_INTENSITY > 0.2), name
        assert (9 in coded) == (wrinkle * _LOWEST_INTENSITY > 0.3), name
        assert (26 in coded) == (opening >= 1.0), name
        # Brow ends move up by 0.06 raise -/+ tilt (0.05 inner, 0.015 outer) of the side.
        assert (1 in coded) == (0.06 * brow - 0.05 * tilt > 0.02), name
        assert (2 in coded) == (0.06 * brow + 0.015 * tilt > 0.02), name
        assert (4 in coded) == (brow < 0), name
        assert (5 in coded) == (eyes > 1), name
        assert not coded & {6, 7} or eyes < 1, name
        assert (12 in coded) == (curve > 0.5 or lift > 0), name
        assert (14 in coded) == (lift > 0), name
        assert (15 in coded) == (curve <= -0.4), name
        assert (20 in coded) == (width > 1.1 and curve < 0.5), name


def test_the_reader_of_a_generated_set_attaches_the_action_units_of_its_expressions(tmp_path):
    folder = _write(tmp_path / "faces", expressions=("happy", "surprise"), num_identities=2)
    records = readers.read_ckplus48(str(folder))
    assert records.action_unit_names == [f"AU{n}" for n in synthetic.GENERATED_ACTION_UNITS]
    expected = synthetic.expression_action_units(
        [records.expression_names[e] for e in records.expression])
    np.testing.assert_array_equal(records.action_units, expected)
    happy = records.action_units[list(records.expression).index(0)]
    assert [records.action_unit_names[i] for i in np.flatnonzero(happy)] == ["AU6", "AU12"]
    # Without the writer's stamp the folder is a plain CK+48 set: no AU labels.
    os.remove(folder / "generated_faces.json")
    assert readers.read_ckplus48(str(folder)).action_units.shape == (len(records), 0)
    with pytest.raises(ValueError, match="No generated expression \\['joy'\\]"):
        synthetic.expression_action_units(["joy"])


def test_relatedness_estimated_from_a_generated_set_is_its_action_unit_map(tmp_path):
    records = readers.read_ckplus48(str(_write(tmp_path / "faces")))
    table = estimate_relatedness(records.expression, records.action_units,
                                 records.expression_names, records.action_unit_names)
    np.testing.assert_array_equal(
        table.matrix(["anger", "happy"], records.action_unit_names),
        synthetic.expression_action_units(["anger", "happy"]))
