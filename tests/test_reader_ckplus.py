"""The CK+ reader on tiny fixtures in the published layout."""

import os

import numpy as np
import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.records import DataError
from tests.reader_helpers import label_names
from tests.reader_helpers import write_image
from tests.reader_helpers import write_text


def write_ckplus(root, sequences):
    """sequences: (subject, sequence, n_frames, emotion file text or None)."""
    for subject, sequence, n_frames, emotion in sequences:
        for frame in range(1, n_frames + 1):
            write_image(root / "cohn-kanade-images" / subject / sequence
                        / f"{subject}_{sequence}_{frame:08d}.png")
        label_dir = root / "Emotion" / subject / sequence
        os.makedirs(label_dir, exist_ok=True)
        if emotion is not None:
            write_text(label_dir / f"{subject}_{sequence}_{n_frames:08d}_emotion.txt", emotion)
    return str(root)


def write_layout(directory, bad_entry=False):
    """Three subjects, 3 apex frames each; the bad entry is a malformed emotion file."""
    sequences = [("S005", "001", 5, "3.0"), ("S010", "002", 4, "7.0"), ("S011", "001", 3, "5.0")]
    if bad_entry:
        sequences.append(("S012", "001", 3, "three"))
    return write_ckplus(directory, sequences), 9


def test_ckplus_takes_last_three_frames_of_labelled_sequences(tmp_path):
    root = write_ckplus(tmp_path, [
        ("S005", "001", 5, "   3.0000000e+00\n"),
        ("S010", "002", 4, "   7.0000000e+00"),
        ("S010", "003", 4, None),
    ])
    records = readers.read_ckplus(root)
    assert records.dataset == "ckplus"
    assert records.expression_names == [
        "anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]
    assert [os.path.basename(s) for s in records.sources] == [
        "S005_001_00000003.png", "S005_001_00000004.png", "S005_001_00000005.png",
        "S010_002_00000002.png", "S010_002_00000003.png", "S010_002_00000004.png",
    ]
    assert label_names(records.expression_names, records.expression) == (
        ["disgust"] * 3 + ["surprise"] * 3)
    assert records.identity_names == ["S005", "S010"]
    assert records.identity.tolist() == [0, 0, 0, 1, 1, 1]
    assert records.subject.tolist() == ["S005"] * 3 + ["S010"] * 3


def test_ckplus_include_neutral_adds_first_frame(tmp_path):
    root = write_ckplus(tmp_path, [("S005", "001", 5, "1.0")])
    records = readers.read_ckplus(root, include_neutral=True)
    assert records.expression_names[0] == "neutral"
    assert len(records.expression_names) == 8
    assert os.path.basename(records.sources[0]) == "S005_001_00000001.png"
    assert label_names(records.expression_names, records.expression) == [
        "neutral", "anger", "anger", "anger"]


def test_ckplus_neutral_sequences_only_with_include_neutral(tmp_path):
    root = write_ckplus(tmp_path, [("S005", "001", 3, "0.0"), ("S005", "002", 3, "6.0")])
    without_neutral = readers.read_ckplus(root)
    assert label_names(without_neutral.expression_names,
                       without_neutral.expression) == ["sadness"] * 3
    with_neutral = readers.read_ckplus(root, include_neutral=True)
    assert label_names(with_neutral.expression_names, with_neutral.expression) == (
        ["neutral"] * 3 + ["sadness"] * 3)


@pytest.mark.parametrize("content", ["three\n", "9.0", "2.5"])
def test_ckplus_malformed_emotion_file_is_named(tmp_path, content):
    root = write_ckplus(tmp_path, [("S005", "001", 4, content)])
    with pytest.raises(DataError, match="S005_001_00000004_emotion.txt"):
        readers.read_ckplus(root)


def test_ckplus_label_without_images_is_named(tmp_path):
    write_text(tmp_path / "Emotion" / "S005" / "001" / "S005_001_00000004_emotion.txt", "2.0")
    os.makedirs(tmp_path / "cohn-kanade-images")
    with pytest.raises(DataError, match="S005_001_00000004_emotion.txt"):
        readers.read_ckplus(str(tmp_path))


def test_ckplus_two_emotion_files_in_a_sequence_are_named(tmp_path):
    root = write_ckplus(tmp_path, [("S005", "001", 3, "1.0")])
    write_text(tmp_path / "Emotion" / "S005" / "001" / "S005_001_00000002_emotion.txt", "1.0")
    with pytest.raises(DataError, match="001 holds 2 emotion files"):
        readers.read_ckplus(root)


def test_ckplus_root_without_emotion_folder_says_what_to_unpack(tmp_path):
    write_image(tmp_path / "cohn-kanade-images" / "S005" / "001" / "S005_001_00000001.png")
    with pytest.raises(DataError, match="Emotion is missing: a CK\\+ root holds"):
        readers.read_ckplus(str(tmp_path))


def write_facs(root, subject, sequence, frame, lines):
    """A FACS file coding a sequence's peak frame: `lines` of (AU, intensity)."""
    return write_text(root / "FACS" / subject / sequence
                      / f"{subject}_{sequence}_{frame:08d}_facs.txt",
                      "".join(f"   {au:.7e}   {intensity:.7e}\n" for au, intensity in lines))


def test_ckplus_facs_codes_label_the_apex_frames_and_the_neutral_frame(tmp_path):
    root = write_ckplus(tmp_path, [("S005", "001", 4, "5.0"), ("S010", "002", 3, "7.0")])
    # AU14 and the head position 54 are outside the default vocabulary; intensity 0
    # means "not scored", and the AU still counts.
    write_facs(tmp_path, "S005", "001", 4, [(6, 3), (12, 0), (14, 2), (54, 0)])
    records = readers.read_ckplus(root, include_neutral=True)
    assert records.action_unit_names[:4] == ["AU1", "AU2", "AU4", "AU5"]
    assert len(records.action_unit_names) == 17
    happy = [records.action_unit_names[i] for i in np.flatnonzero(records.action_units[1] == 1)]
    assert happy == ["AU6", "AU12"]
    assert (records.action_units[1:4] == records.action_units[1]).all()
    assert not records.action_units[0].any()  # the neutral first frame: nothing active
    assert (records.action_units[4:] == -1).all()  # S010/002 has no FACS file


def test_ckplus_without_a_facs_folder_has_no_annotated_units(tmp_path):
    root = write_ckplus(tmp_path, [("S005", "001", 3, "5.0")])
    records = readers.read_ckplus(root, include_neutral=True, action_unit_vocabulary=(6, 12))
    assert records.action_unit_names == ["AU6", "AU12"]
    assert (records.action_units == -1).all()
    with pytest.raises(ValueError, match="\\[3\\] are not FACS action units"):
        readers.read_ckplus(root, action_unit_vocabulary=(3, 12))


@pytest.mark.parametrize("content, message", [
    ("1.0\n", "line 1 is not an AU line"),
    ("   6.0 1.0\n  12.5 0.0\n", "line 2 is not an AU line"),
    ("   6.0 -1.0\n", "line 1 is not an AU line"),
    ("\n\n", "lists no action unit"),
])
def test_ckplus_malformed_facs_file_is_named_or_its_sequence_skipped(tmp_path, content, message):
    root = write_ckplus(tmp_path, [("S005", "001", 3, "5.0"), ("S010", "001", 3, "1.0")])
    write_text(tmp_path / "FACS" / "S005" / "001" / "S005_001_00000003_facs.txt", content)
    with pytest.raises(DataError, match=f"S005_001_00000003_facs.txt {message}"):
        readers.read_ckplus(root)
    assert readers.read_ckplus(root, skip_bad=True).subject.tolist() == ["S010"] * 3


def test_ckplus_two_facs_files_in_a_sequence_are_named(tmp_path):
    root = write_ckplus(tmp_path, [("S005", "001", 3, "5.0")])
    write_facs(tmp_path, "S005", "001", 3, [(12, 0)])
    write_facs(tmp_path, "S005", "001", 2, [(12, 0)])
    with pytest.raises(DataError, match="001 holds 2 FACS files"):
        readers.read_ckplus(root)
