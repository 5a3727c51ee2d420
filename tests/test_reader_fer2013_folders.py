"""The FER2013 image-folder reader: one split folder of expression folders."""

import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.records import DataError
from tests.reader_helpers import label_names
from tests.reader_helpers import write_image


def write_layout(directory, bad_entry=False):
    """Three faces of a test split; the bad entry is a file not named <Usage>_<n>."""
    root = directory / "test"
    write_image(root / "angry" / "PrivateTest_10131363.jpg")
    write_image(root / "happy" / "PublicTest_5.jpg")
    write_image(root / "neutral" / "PrivateTest_7.jpg")
    if bad_entry:
        write_image(root / "happy" / "IMG_0001.jpg")
    return str(root), 3


def test_split_folder_reads_expressions_and_one_subject_per_face(tmp_path):
    root, _ = write_layout(tmp_path)
    assert readers.detect_format(root) == "fer2013_folders"
    records = readers.read_dataset(root)
    assert label_names(records.expression_names, records.expression) == [
        "anger", "happy", "neutral"]
    assert records.subject.tolist() == ["fer2013_PrivateTest_10131363", "fer2013_PublicTest_5",
                                        "fer2013_PrivateTest_7"]
    assert (records.identity == -1).all()


def test_a_folder_that_names_no_expression_is_refused(tmp_path):
    root, _ = write_layout(tmp_path)
    write_image(tmp_path / "test" / "smug" / "Training_1.jpg")
    with pytest.raises(DataError, match="smug is not an expression folder"):
        readers.read_fer2013_folders(root)
