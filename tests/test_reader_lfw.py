"""The folder-per-identity reader (LFW, CASIA-WebFace, VGGFace2) and the LFW pairs
files, on tiny fixtures."""

import os

import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.records import DataError
from tests.reader_helpers import write_image
from tests.reader_helpers import write_text


def write_lfw(root):
    """Ann_Lee (2 images), Bob_Smith and Cy_Twombly (1 each); returns the root."""
    for name, count in (("Ann_Lee", 2), ("Bob_Smith", 1), ("Cy_Twombly", 1)):
        for i in range(1, count + 1):
            write_image(root / name / f"{name}_{i:04d}.jpg")
    return str(root)


def write_layout(directory, bad_entry=False):
    """Three people; the bad entry is a text file in a person's folder."""
    root = write_lfw(directory)
    if bad_entry:
        write_text(directory / "Bob_Smith" / "notes.txt", "x")
    return root, 4


def test_lfw_identities_without_expressions(tmp_path):
    root = write_lfw(tmp_path)
    write_text(tmp_path / "pairs.txt", "1\n")
    records = readers.read_lfw(root)
    assert records.dataset == "lfw"
    assert records.identity_names == ["Ann_Lee", "Bob_Smith", "Cy_Twombly"]
    assert records.identity.tolist() == [0, 0, 1, 2]
    assert records.expression.tolist() == [-1] * 4
    assert records.expression_names == []
    assert records.subject.tolist() == ["Ann_Lee", "Ann_Lee", "Bob_Smith", "Cy_Twombly"]


@pytest.mark.parametrize("people, files", [
    (("0000045", "0000099", "0000100"), ("001.jpg", "002.jpg")),  # CASIA-WebFace
    (("n000002", "n000003", "n000004"), ("0001_01.jpg", "0002_01.jpg")),  # VGGFace2
])
def test_other_folder_per_identity_sets_read_the_same_way(tmp_path, people, files):
    for person in people:
        for name in files:
            write_image(tmp_path / person / name)
    write_text(tmp_path / "train_list.txt", f"{people[0]}/{files[0]}\n")
    assert readers.detect_format(str(tmp_path)) == "lfw"
    records = readers.read_dataset(str(tmp_path))
    assert records.identity_names == list(people)
    assert records.identity.tolist() == [0, 0, 1, 1, 2, 2]
    assert records.subject.tolist() == [p for p in people for _ in files]
    assert (records.expression == -1).all()
    assert os.path.basename(records.sources[1]) == files[1]


def test_lfw_stray_file_is_named(tmp_path):
    root, _ = write_layout(tmp_path, bad_entry=True)
    with pytest.raises(DataError, match="notes.txt is not an image"):
        readers.read_lfw(root)


def test_lfw_pairs_same_and_different(tmp_path):
    root = write_lfw(tmp_path)
    pairs_path = write_text(tmp_path / "pairs.txt",
                            "1\t1\nAnn_Lee\t1\t2\nBob_Smith\t1\tCy_Twombly\t1\n")
    pairs = readers.read_lfw_pairs(pairs_path, root)
    assert pairs == [
        (os.path.join(root, "Ann_Lee", "Ann_Lee_0001.jpg"),
         os.path.join(root, "Ann_Lee", "Ann_Lee_0002.jpg"), True),
        (os.path.join(root, "Bob_Smith", "Bob_Smith_0001.jpg"),
         os.path.join(root, "Cy_Twombly", "Cy_Twombly_0001.jpg"), False),
    ]
    single_count = write_text(tmp_path / "dev.txt", "1\nAnn_Lee 1 2\nAnn_Lee 1 Bob_Smith 1\n")
    assert [same for _, _, same in readers.read_lfw_pairs(single_count, root)] == [True, False]


@pytest.mark.parametrize("body, line", [
    ("1\t1\nAnn_Lee\t1\nBob_Smith\t1\tCy_Twombly\t1\n", 2),
    ("1\t1\nAnn_Lee\t1\t2\nBob_Smith\tone\tCy_Twombly\t1\n", 3),
    ("1\t1\nAnn_Lee\t1\t3\nBob_Smith\t1\tCy_Twombly\t1\n", 2),
    ("ten\nAnn_Lee\t1\t2\n", 1),
])
def test_lfw_pairs_malformed_line_is_numbered(tmp_path, body, line):
    root = write_lfw(tmp_path)
    pairs_path = write_text(tmp_path / "pairs.txt", body)
    with pytest.raises(DataError, match=f"pairs.txt line {line}"):
        readers.read_lfw_pairs(pairs_path, root)


def test_lfw_pairs_count_mismatch(tmp_path):
    root = write_lfw(tmp_path)
    pairs_path = write_text(tmp_path / "pairs.txt", "2\t1\nAnn_Lee\t1\t2\n")
    with pytest.raises(DataError, match="announces 4 pairs but it lists 1"):
        readers.read_lfw_pairs(pairs_path, root)
