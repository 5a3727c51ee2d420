"""Alignment math and crop preparation (what test_data_prep leaves out)."""

import numpy as np

from keras_dmtl.data.faces import alignment
from keras_dmtl.data.generated import synthetic


def test_reference_landmarks_scale_with_size_and_margin_shrinks_about_the_centre():
    np.testing.assert_allclose(alignment.reference_landmarks(224), 2 * alignment.reference_landmarks(112))
    plain, padded = alignment.reference_landmarks(100), alignment.reference_landmarks(100, margin=0.25)
    np.testing.assert_allclose(padded - 50.0, (plain - 50.0) / 1.25)


def test_similarity_transform_never_reflects():
    points = np.random.default_rng(1).uniform(0, 50, (5, 2))
    mirrored = points * np.array([-1.0, 1.0])
    matrix = alignment.similarity_transform(points, mirrored)
    assert np.linalg.det(matrix[:, :2]) > 0


def test_similarity_transform_is_the_least_squares_fit_for_noisy_points():
    rng = np.random.default_rng(2)
    source = rng.uniform(0, 100, (5, 2))
    target = 0.8 * source + np.array([5.0, 7.0]) + rng.normal(0, 1.0, (5, 2))
    matrix = alignment.similarity_transform(source, target)

    def error(candidate):
        return np.sum((source @ candidate[:, :2].T + candidate[:, 2] - target) ** 2)

    # Any small move of (scale, angle, shift) away from the fit adds error.
    for delta in np.eye(4) * 1e-3:
        for sign in (1, -1):
            scale, angle = 1 + sign * delta[0], sign * delta[1]
            rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            moved = np.hstack([rotation @ matrix[:, :2], (rotation @ matrix[:, 2] + sign * delta[2:])[:, None]])
            assert error(moved) > error(matrix)


def _correlation(first, second):
    first, second = first.astype(np.float64), second.astype(np.float64)
    return np.mean((first - first.mean()) * (second - second.mean())) / (first.std() * second.std())


def test_aligning_rendered_faces_by_their_landmarks_undoes_the_pose_jitter():
    for seed in range(3):
        person = synthetic.random_identity(np.random.default_rng(seed))
        raw, aligned = [], []
        for jitter in range(2):
            image, landmarks = synthetic.render_face(person, "happy", 1.0,
                                                     np.random.default_rng(10 * seed + jitter), 96)
            raw.append(image)
            aligned.append(alignment.align_face(image, landmarks, 64, margin=0.3))
        assert aligned[0].shape == (64, 64)
        assert _correlation(*aligned) > 0.85
        assert _correlation(*aligned) > _correlation(*raw) + 0.15


def test_crop_box_centres_the_box_and_pads_it_by_the_margin():
    image = np.zeros((100, 120, 3), np.uint8)
    image[30:70, 50:90] = 255  # the "face": a 40 x 40 box at (50, 30)
    tight = alignment.crop_box(image, (50, 30, 40, 40), 20, margin=0.0)
    assert tight.shape == (20, 20, 3) and tight.min() == 255
    padded = alignment.crop_box(image, (50, 30, 40, 40), 40, margin=1.0)
    assert padded[12:28, 12:28].min() == 255
    assert padded[:8].max() == 0 and padded[:, -8:].max() == 0


def test_to_channels_converts_between_gray_and_rgb():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    rgb = alignment.to_channels(gray, 3)
    assert rgb.shape == (3, 4, 3) and np.all(rgb == gray[:, :, None])
    np.testing.assert_array_equal(alignment.to_channels(gray[:, :, None], 1), gray[:, :, None])
    red, blue = np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2, 3), np.uint8)
    red[..., 0], blue[..., 2] = 200, 200
    # RGB order: the luma weight of red (0.299) is larger than that of blue (0.114).
    assert alignment.to_channels(red, 1).mean() > alignment.to_channels(blue, 1).mean()


def test_preprocess_crop_clips_float_pixels_and_keeps_a_ready_crop_unchanged():
    ready = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(alignment.preprocess_crop(ready, 32, 3), ready)
    floats = np.array([[-5.0, 300.0], [128.0, 255.0]])
    out = alignment.preprocess_crop(floats, 2, 1)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, :, 0], [[0, 255], [128, 255]])
