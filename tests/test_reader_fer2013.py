"""The FER2013 reader on tiny CSVs in the published layout."""

import numpy as np
import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.records import DataError
from tests.reader_helpers import label_names
from tests.reader_helpers import write_text


def fer_row(code, value, usage, count=48 * 48):
    """One CSV line: a flat image of `value`, `count` pixels."""
    return f"{code},{' '.join([str(value)] * count)},{usage}\n"


def write_fer2013(path, rows, header="emotion,pixels,Usage"):
    """Writes a FER2013 CSV of `rows` (from `fer_row`); returns its path."""
    return write_text(path, header + "\n" + "".join(rows))


def write_layout(directory, bad_entry=False):
    """Three rows (each its own subject); the bad entry is an out-of-range code."""
    rows = [fer_row(0, 10, "Training"), fer_row(3, 20, "PublicTest"), fer_row(6, 30, "Training")]
    if bad_entry:
        rows.insert(1, fer_row(7, 1, "Training"))
    return write_fer2013(directory / "fer2013.csv", rows), 3


def test_fer2013_rows_become_images_and_canonical_labels(tmp_path):
    path = write_fer2013(tmp_path / "fer2013.csv", [
        fer_row(0, 10, "Training"), fer_row(6, 255, "PublicTest"),
        fer_row(3, 0, "PrivateTest"), fer_row(4, 7, "Training"),
    ])
    records = readers.read_fer2013(path)
    assert records.dataset == "fer2013"
    assert records.expression_names == [
        "neutral", "anger", "disgust", "fear", "happy", "sadness", "surprise"]
    assert label_names(records.expression_names, records.expression) == [
        "anger", "neutral", "happy", "sadness"]
    assert records.identity.tolist() == [-1] * 4
    assert records.identity_names == []
    assert records.subject.tolist() == [f"fer2013_{i}" for i in range(4)]
    assert records.sources[1].dtype == np.uint8
    assert records.sources[1].shape == (48, 48)
    assert int(records.sources[1][0, 0]) == 255

    training = readers.read_fer2013(path, usage="Training")
    assert training.subject.tolist() == ["fer2013_0", "fer2013_3"]


def test_fer2013_subject_keys_do_not_move_when_a_row_is_skipped(tmp_path):
    path, _ = write_layout(tmp_path, bad_entry=True)
    records = readers.read_fer2013(path, skip_bad=True)
    assert records.subject.tolist() == ["fer2013_0", "fer2013_2", "fer2013_3"]


def test_fer2013_header_with_spaces_is_accepted(tmp_path):
    path = write_fer2013(tmp_path / "f.csv", [fer_row(5, 1, "Training")],
                         header="emotion, pixels , Usage")
    assert len(readers.read_fer2013(path)) == 1


def test_fer2013_wrong_header_is_named(tmp_path):
    path = write_text(tmp_path / "faces.csv", "label,image\n1,2\n")
    with pytest.raises(DataError, match=r"faces.csv is not a FER2013 CSV: expected header "
                                        r"emotion,pixels,Usage, found 'label,image'"):
        readers.read_fer2013(path)


@pytest.mark.parametrize("bad_row", [
    fer_row(7, 1, "Training"),
    fer_row(1, 1, "Training", count=2303),
    fer_row(1, 256, "Training"),
    "1,1 2 x,Training\n",
    "1,2,3,Training\n",
])
def test_fer2013_bad_row_names_file_and_line(tmp_path, bad_row):
    path = write_fer2013(tmp_path / "fer2013.csv", [fer_row(0, 1, "Training"), bad_row])
    with pytest.raises(DataError, match="fer2013.csv line 3"):
        readers.read_fer2013(path)


def test_fer2013_unknown_usage_names_the_argument(tmp_path):
    path = write_fer2013(tmp_path / "fer2013.csv", [fer_row(0, 1, "Training")])
    with pytest.raises(DataError, match="usage='Test'"):
        readers.read_fer2013(path, usage="Test")


def test_fer2013_folder_instead_of_csv_is_named(tmp_path):
    with pytest.raises(DataError, match="is a directory: pass the path of fer2013.csv"):
        readers.read_fer2013(str(tmp_path))
