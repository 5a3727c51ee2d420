"""Dataset readers on tiny fixtures written in each published layout."""

import logging
import os

import cv2
import numpy as np
import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.records import DataError


def _image(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), np.full((8, 8), 128, np.uint8))
    return str(path)


def _text(path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(content)
    return str(path)


def _labels(names, indices):
    return [names[i] if i >= 0 else None for i in indices]


# --- CK+ -------------------------------------------------------------------------


def _ckplus(root, sequences):
    """sequences: (subject, sequence, n_frames, emotion file text or None)."""
    for subject, sequence, n_frames, emotion in sequences:
        for frame in range(1, n_frames + 1):
            _image(root / "cohn-kanade-images" / subject / sequence
                   / f"{subject}_{sequence}_{frame:08d}.png")
        label_dir = root / "Emotion" / subject / sequence
        os.makedirs(label_dir, exist_ok=True)
        if emotion is not None:
            _text(label_dir / f"{subject}_{sequence}_{n_frames:08d}_emotion.txt", emotion)
    return str(root)


def test_ckplus_takes_last_three_frames_of_labelled_sequences(tmp_path):
    root = _ckplus(tmp_path, [
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
    assert _labels(records.expression_names, records.expression) == (
        ["disgust"] * 3 + ["surprise"] * 3)
    assert records.identity_names == ["S005", "S010"]
    assert records.identity.tolist() == [0, 0, 0, 1, 1, 1]
    assert records.subject.tolist() == ["S005"] * 3 + ["S010"] * 3


def test_ckplus_include_neutral_adds_first_frame(tmp_path):
    root = _ckplus(tmp_path, [("S005", "001", 5, "1.0")])
    records = readers.read_ckplus(root, include_neutral=True)
    assert records.expression_names[0] == "neutral"
    assert len(records.expression_names) == 8
    assert os.path.basename(records.sources[0]) == "S005_001_00000001.png"
    assert _labels(records.expression_names, records.expression) == [
        "neutral", "anger", "anger", "anger"]


def test_ckplus_neutral_sequences_only_with_include_neutral(tmp_path):
    root = _ckplus(tmp_path, [("S005", "001", 3, "0.0"), ("S005", "002", 3, "6.0")])
    assert _labels(readers.read_ckplus(root).expression_names,
                   readers.read_ckplus(root).expression) == ["sadness"] * 3
    with_neutral = readers.read_ckplus(root, include_neutral=True)
    assert _labels(with_neutral.expression_names, with_neutral.expression) == (
        ["neutral"] * 3 + ["sadness"] * 3)


@pytest.mark.parametrize("content", ["three\n", "9.0", "2.5"])
def test_ckplus_malformed_emotion_file_is_named(tmp_path, content):
    root = _ckplus(tmp_path, [("S005", "001", 4, content)])
    with pytest.raises(DataError, match="S005_001_00000004_emotion.txt"):
        readers.read_ckplus(root)


def test_ckplus_label_without_images_is_named(tmp_path):
    _text(tmp_path / "Emotion" / "S005" / "001" / "S005_001_00000004_emotion.txt", "2.0")
    os.makedirs(tmp_path / "cohn-kanade-images")
    with pytest.raises(DataError, match="S005_001_00000004_emotion.txt"):
        readers.read_ckplus(str(tmp_path))


# --- CK+48 -----------------------------------------------------------------------


def test_ckplus48_maps_folder_aliases_and_subjects(tmp_path):
    _image(tmp_path / "Angry" / "S010_004_00000017.png")
    _image(tmp_path / "happiness" / "S011_001_00000009.png")
    _image(tmp_path / "happiness" / "S010_002_00000012.png")
    _image(tmp_path / "contempt" / "S020_003_00000001.png")
    records = readers.read_ckplus48(str(tmp_path))
    assert records.dataset == "ckplus48"
    assert records.expression_names == ["anger", "contempt", "happy"]
    assert _labels(records.expression_names, records.expression) == [
        "anger", "contempt", "happy", "happy"]
    assert records.subject.tolist() == ["S010", "S020", "S010", "S011"]
    assert _labels(records.identity_names, records.identity) == [
        "S010", "S020", "S010", "S011"]


def test_ckplus48_badly_named_file_is_named_or_skipped(tmp_path, caplog):
    _image(tmp_path / "sad" / "S010_004_00000017.png")
    _image(tmp_path / "sad" / "face01.png")
    with pytest.raises(DataError, match="face01.png"):
        readers.read_ckplus48(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger=readers.__name__):
        records = readers.read_ckplus48(str(tmp_path), skip_bad=True)
    assert len(records) == 1
    assert "Skipped 1 bad files" in caplog.text


def test_ckplus48_unknown_folder_lists_accepted_names(tmp_path):
    _image(tmp_path / "sad" / "S010_004_00000017.png")
    _image(tmp_path / "smug" / "S010_004_00000018.png")
    with pytest.raises(DataError, match=r"smug.*surprised"):
        readers.read_ckplus48(str(tmp_path))


# --- Oulu-CASIA ------------------------------------------------------------------


def test_oulu_casia_nested_subjects_and_last_frames(tmp_path):
    for light in ("Strong", "Dark"):
        for frame in range(5):
            _image(tmp_path / "VL" / light / "P001" / "Happiness" / f"{frame:03d}.jpeg")
    for frame in (1, 2, 9, 10):
        _image(tmp_path / "VL" / "Strong" / "P002" / "Surprise" / f"{frame}.jpeg")
    records = readers.read_oulu_casia(str(tmp_path))
    assert records.dataset == "oulu_casia"
    assert records.expression_names == [
        "anger", "disgust", "fear", "happy", "sadness", "surprise"]
    assert records.identity_names == ["P001", "P002"]
    assert records.subject.tolist() == ["P001"] * 6 + ["P002"] * 3
    assert [os.path.basename(s) for s in records.sources] == (
        ["002.jpeg", "003.jpeg", "004.jpeg"] * 2 + ["2.jpeg", "9.jpeg", "10.jpeg"])
    assert {os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(s))))
            for s in records.sources[:6]} == {"Strong", "Dark"}
    assert _labels(records.expression_names, records.expression) == (
        ["happy"] * 6 + ["surprise"] * 3)


@pytest.mark.parametrize("folder", ["Bored", "Contempt"])
def test_oulu_casia_unknown_expression_folder_is_named(tmp_path, folder):
    _image(tmp_path / "P001" / "Anger" / "000.jpeg")
    _image(tmp_path / "P001" / folder / "000.jpeg")
    with pytest.raises(DataError, match=f"{folder} is not an expression folder"):
        readers.read_oulu_casia(str(tmp_path))


# --- FER2013 ---------------------------------------------------------------------


def _fer_row(code, value, usage, count=48 * 48):
    return f"{code},{' '.join([str(value)] * count)},{usage}\n"


def _fer2013(path, rows, header="emotion,pixels,Usage"):
    return _text(path, header + "\n" + "".join(rows))


def test_fer2013_rows_become_images_and_canonical_labels(tmp_path):
    path = _fer2013(tmp_path / "fer2013.csv", [
        _fer_row(0, 10, "Training"), _fer_row(6, 255, "PublicTest"),
        _fer_row(3, 0, "PrivateTest"), _fer_row(4, 7, "Training"),
    ])
    records = readers.read_fer2013(path)
    assert records.dataset == "fer2013"
    assert records.expression_names == [
        "neutral", "anger", "disgust", "fear", "happy", "sadness", "surprise"]
    assert _labels(records.expression_names, records.expression) == [
        "anger", "neutral", "happy", "sadness"]
    assert records.identity.tolist() == [-1] * 4
    assert records.identity_names == []
    assert records.subject.tolist() == [f"fer2013_{i}" for i in range(4)]
    assert records.sources[1].dtype == np.uint8
    assert records.sources[1].shape == (48, 48)
    assert int(records.sources[1][0, 0]) == 255

    training = readers.read_fer2013(path, usage="Training")
    assert training.subject.tolist() == ["fer2013_0", "fer2013_3"]


def test_fer2013_header_with_spaces_is_accepted(tmp_path):
    path = _fer2013(tmp_path / "f.csv", [_fer_row(5, 1, "Training")],
                    header="emotion, pixels , Usage")
    assert len(readers.read_fer2013(path)) == 1


def test_fer2013_wrong_header_is_named(tmp_path):
    path = _text(tmp_path / "faces.csv", "label,image\n1,2\n")
    with pytest.raises(DataError, match=r"faces.csv is not a FER2013 CSV: expected header "
                                        r"emotion,pixels,Usage, found 'label,image'"):
        readers.read_fer2013(path)


@pytest.mark.parametrize("bad_row", [
    _fer_row(7, 1, "Training"),
    _fer_row(1, 1, "Training", count=2303),
    _fer_row(1, 256, "Training"),
    "1,1 2 x,Training\n",
])
def test_fer2013_bad_row_names_file_and_line(tmp_path, bad_row):
    path = _fer2013(tmp_path / "fer2013.csv", [_fer_row(0, 1, "Training"), bad_row])
    with pytest.raises(DataError, match="fer2013.csv line 3"):
        readers.read_fer2013(path)


def test_fer2013_unknown_usage_names_flag(tmp_path):
    path = _fer2013(tmp_path / "fer2013.csv", [_fer_row(0, 1, "Training")])
    with pytest.raises(DataError, match="usage='Test'"):
        readers.read_fer2013(path, usage="Test")


# --- LFW -------------------------------------------------------------------------


def _lfw(root):
    for name, count in (("Ann_Lee", 2), ("Bob_Smith", 1), ("Cy_Twombly", 1)):
        for i in range(1, count + 1):
            _image(root / name / f"{name}_{i:04d}.jpg")
    return str(root)


def test_lfw_identities_without_expressions(tmp_path):
    root = _lfw(tmp_path)
    _text(tmp_path / "pairs.txt", "1\n")
    records = readers.read_lfw(root)
    assert records.dataset == "lfw"
    assert records.identity_names == ["Ann_Lee", "Bob_Smith", "Cy_Twombly"]
    assert records.identity.tolist() == [0, 0, 1, 2]
    assert records.expression.tolist() == [-1] * 4
    assert records.expression_names == []
    assert records.subject.tolist() == ["Ann_Lee", "Ann_Lee", "Bob_Smith", "Cy_Twombly"]


def test_lfw_stray_file_is_named(tmp_path):
    root = _lfw(tmp_path)
    _text(tmp_path / "Bob_Smith" / "notes.txt", "x")
    with pytest.raises(DataError, match="notes.txt"):
        readers.read_lfw(root)


def test_lfw_pairs_same_and_different(tmp_path):
    root = _lfw(tmp_path)
    pairs_path = _text(tmp_path / "pairs.txt",
                       "1\t1\nAnn_Lee\t1\t2\nBob_Smith\t1\tCy_Twombly\t1\n")
    pairs = readers.read_lfw_pairs(pairs_path, root)
    assert pairs == [
        (os.path.join(root, "Ann_Lee", "Ann_Lee_0001.jpg"),
         os.path.join(root, "Ann_Lee", "Ann_Lee_0002.jpg"), True),
        (os.path.join(root, "Bob_Smith", "Bob_Smith_0001.jpg"),
         os.path.join(root, "Cy_Twombly", "Cy_Twombly_0001.jpg"), False),
    ]
    single_count = _text(tmp_path / "dev.txt", "1\nAnn_Lee 1 2\nAnn_Lee 1 Bob_Smith 1\n")
    assert [same for _, _, same in readers.read_lfw_pairs(single_count, root)] == [True, False]


@pytest.mark.parametrize("body, line", [
    ("1\t1\nAnn_Lee\t1\nBob_Smith\t1\tCy_Twombly\t1\n", 2),
    ("1\t1\nAnn_Lee\t1\t2\nBob_Smith\tone\tCy_Twombly\t1\n", 3),
    ("1\t1\nAnn_Lee\t1\t3\nBob_Smith\t1\tCy_Twombly\t1\n", 2),
])
def test_lfw_pairs_malformed_line_is_numbered(tmp_path, body, line):
    root = _lfw(tmp_path)
    pairs_path = _text(tmp_path / "pairs.txt", body)
    with pytest.raises(DataError, match=f"pairs.txt line {line}"):
        readers.read_lfw_pairs(pairs_path, root)


def test_lfw_pairs_count_mismatch(tmp_path):
    root = _lfw(tmp_path)
    pairs_path = _text(tmp_path / "pairs.txt", "2\t1\nAnn_Lee\t1\t2\n")
    with pytest.raises(DataError, match="announces 4 pairs but it lists 1"):
        readers.read_lfw_pairs(pairs_path, root)


# --- manifest --------------------------------------------------------------------


def test_manifest_names_blanks_and_relative_paths(tmp_path):
    for name in ("a.png", "b.png", "c.png", "d.png"):
        _image(tmp_path / "img" / name)
    path = _text(tmp_path / "m.csv", (
        "path,identity,expression\n"
        "img/a.png,carol,Happiness\n"
        "img/b.png,alice,\n"
        f"{tmp_path / 'img' / 'c.png'},,smirk\n"
        "img/d.png,carol,sad\n"
    ))
    records = readers.read_manifest(path)
    assert records.dataset == "manifest"
    assert records.sources == [
        str(tmp_path / "img" / name) for name in ("a.png", "b.png", "c.png", "d.png")]
    assert records.identity_names == ["alice", "carol"]
    assert _labels(records.identity_names, records.identity) == [
        "carol", "alice", None, "carol"]
    assert records.expression_names == ["happy", "sadness", "smirk"]
    assert _labels(records.expression_names, records.expression) == [
        "happy", None, "smirk", "sadness"]
    assert records.subject.tolist() == ["carol", "alice", str(tmp_path / "img" / "c.png"), "carol"]


def test_manifest_subject_column(tmp_path):
    _image(tmp_path / "a.png")
    path = _text(tmp_path / "m.csv", "path,identity,expression,subject\na.png,carol,,s7\n"
                                     "a.png,carol,,\n")
    assert readers.read_manifest(path).subject.tolist() == ["s7", "carol"]


@pytest.mark.parametrize("body, message", [
    ("file,label\na.png,x\n", "m.csv is not a manifest"),
    ("path,identity,expression\nmissing.png,x,\n", "m.csv line 2 names .*missing.png"),
    ("path,identity,expression\na.png,x\n", "m.csv line 2: expected 3 fields"),
])
def test_manifest_malformed_is_named(tmp_path, body, message):
    _image(tmp_path / "a.png")
    path = _text(tmp_path / "m.csv", body)
    with pytest.raises(DataError, match=message):
        readers.read_manifest(path)


# --- combine ---------------------------------------------------------------------


def test_combine_identity_only_with_expression_only_keeps_missing(tmp_path):
    lfw = readers.read_lfw(_lfw(tmp_path / "lfw"))
    fer = readers.read_fer2013(_fer2013(tmp_path / "fer2013.csv", [
        _fer_row(3, 1, "Training"), _fer_row(6, 2, "Training")]))
    combined = readers.combine([lfw, fer])
    assert combined.dataset == "lfw+fer2013"
    assert len(combined) == 6
    assert combined.identity.tolist() == [0, 0, 1, 2, -1, -1]
    assert combined.identity_names == ["Ann_Lee", "Bob_Smith", "Cy_Twombly"]
    assert combined.expression_names == fer.expression_names
    assert _labels(combined.expression_names, combined.expression) == [
        None, None, None, None, "happy", "neutral"]
    assert combined.subject.tolist()[3:] == ["lfw/Cy_Twombly", "fer2013/fer2013_0",
                                             "fer2013/fer2013_1"]


def test_combine_unifies_expressions_and_prefixes_shared_names(tmp_path):
    _ckplus(tmp_path / "ck", [("S005", "001", 3, "5.0")])
    _image(tmp_path / "c48" / "fear" / "S005_001_00000003.png")
    _image(tmp_path / "c48" / "happy" / "S077_001_00000003.png")
    ck = readers.read_ckplus(str(tmp_path / "ck"))
    ck48 = readers.read_ckplus48(str(tmp_path / "c48"))
    combined = readers.combine([ck48, ck])
    assert combined.identity_names == ["ckplus48/S005", "S077", "ckplus/S005"]
    assert combined.identity.tolist() == [0, 1, 2, 2, 2]
    assert combined.expression_names == ck.expression_names
    assert _labels(combined.expression_names, combined.expression) == [
        "fear", "happy", "happy", "happy", "happy"]
    assert set(combined.subject[:2]) == {"ckplus48/S005", "ckplus48/S077"}
    assert set(combined.subject[2:]) == {"ckplus/S005"}


def test_combine_two_sources_of_one_format_stay_apart(tmp_path):
    _image(tmp_path / "a.png")
    body = "path,identity,expression\na.png,x,\n"
    first = readers.read_manifest(_text(tmp_path / "1.csv", body))
    second = readers.read_manifest(_text(tmp_path / "2.csv", body))
    combined = readers.combine([first, second])
    assert combined.identity_names == ["manifest1/x", "manifest2/x"]
    assert combined.subject.tolist() == ["manifest1/x", "manifest2/x"]


# --- detection and dispatch ------------------------------------------------------


def test_detect_format_on_each_layout(tmp_path):
    ck = _ckplus(tmp_path / "ck", [("S005", "001", 3, "5.0")])
    _image(tmp_path / "c48" / "sadness" / "S005_001_00000003.png")
    _image(tmp_path / "oulu" / "NI" / "Weak" / "P003" / "Fear" / "000.jpeg")
    lfw = _lfw(tmp_path / "lfw")
    fer = _fer2013(tmp_path / "fer.csv", [_fer_row(0, 1, "Training")])
    manifest = _text(tmp_path / "m.csv", "path,identity,expression\n")
    found = {name: readers.detect_format(path) for name, path in [
        ("ck", ck), ("c48", str(tmp_path / "c48")), ("oulu", str(tmp_path / "oulu")),
        ("lfw", lfw), ("fer", fer), ("manifest", manifest)]}
    assert found == {"ck": "ckplus", "c48": "ckplus48", "oulu": "oulu_casia",
                     "lfw": "lfw", "fer": "fer2013", "manifest": "manifest"}


def test_detect_format_unknown_layout_lists_formats(tmp_path):
    _text(tmp_path / "docs" / "readme.txt", "x")
    with pytest.raises(DataError, match=r"docs matches no supported .*ckplus48.*manifest"):
        readers.detect_format(str(tmp_path / "docs"))


def test_read_dataset_dispatches_and_checks_paths(tmp_path):
    fer = _fer2013(tmp_path / "fer.csv", [_fer_row(0, 1, "Training"), _fer_row(0, 1, "PublicTest")])
    assert len(readers.read_dataset(fer)) == 2
    assert len(readers.read_dataset(fer, dataset="fer2013", usage="PublicTest")) == 1
    with pytest.raises(DataError, match="--dataset=affectnet.*oulu_casia"):
        readers.read_dataset(fer, dataset="affectnet")
    with pytest.raises(DataError, match="nowhere does not exist"):
        readers.read_dataset(str(tmp_path / "nowhere"))
    os.makedirs(tmp_path / "empty")
    with pytest.raises(DataError, match="empty is an empty directory"):
        readers.read_dataset(str(tmp_path / "empty"), dataset="lfw")


def test_expression_aliases_map_onto_canonical_names():
    assert readers.canonical_expression(" Happiness ") == "happy"
    assert readers.canonical_expression("ANGRY") == "anger"
    assert readers.canonical_expression("smirk") is None
    assert readers.ordered_expression_names(["smirk", "surprise", "anger", "anger"]) == [
        "anger", "surprise", "smirk"]
