"""The CK+ reader on tiny fixtures in the published layout."""

import os

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
