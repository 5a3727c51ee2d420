"""The CK+48 reader on tiny fixtures in its layout."""

import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.records import DataError
from tests.reader_helpers import label_names
from tests.reader_helpers import write_image


def write_layout(directory, bad_entry=False):
    """Three subjects over three expression folders; the bad entry is a misnamed file."""
    for name in ("happy/S010_004_00000017.png", "happy/S011_001_00000009.png",
                 "sad/S010_002_00000012.png", "Fear/S012_003_00000005.png"):
        write_image(directory / name)
    if bad_entry:
        write_image(directory / "sad" / "face01.png")
    return str(directory), 4


def test_ckplus48_maps_folder_aliases_and_subjects(tmp_path):
    write_image(tmp_path / "Angry" / "S010_004_00000017.png")
    write_image(tmp_path / "happiness" / "S011_001_00000009.png")
    write_image(tmp_path / "happiness" / "S010_002_00000012.png")
    write_image(tmp_path / "contempt" / "S020_003_00000001.png")
    records = readers.read_ckplus48(str(tmp_path))
    assert records.dataset == "ckplus48"
    assert records.expression_names == ["anger", "contempt", "happy"]
    assert label_names(records.expression_names, records.expression) == [
        "anger", "contempt", "happy", "happy"]
    assert records.subject.tolist() == ["S010", "S020", "S010", "S011"]
    assert label_names(records.identity_names, records.identity) == [
        "S010", "S020", "S010", "S011"]


def test_ckplus48_badly_named_file_is_named(tmp_path):
    path, _ = write_layout(tmp_path, bad_entry=True)
    with pytest.raises(DataError, match=r"face01.png is not named like a CK\+48 image"):
        readers.read_ckplus48(path)


def test_ckplus48_unknown_folder_lists_accepted_names_even_when_skipping(tmp_path):
    write_image(tmp_path / "sad" / "S010_004_00000017.png")
    write_image(tmp_path / "smug" / "S010_004_00000018.png")
    for skip_bad in (False, True):
        with pytest.raises(DataError, match=r"smug.*surprised"):
            readers.read_ckplus48(str(tmp_path), skip_bad=skip_bad)


def test_ckplus48_with_a_stray_folder_is_not_taken_for_lfw(tmp_path):
    # Read as people, an expression layout would train on the wrong labels without
    # a word; unrecognised, the user is told to name the format.
    write_image(tmp_path / "sad" / "S010_004_00000017.png")
    write_image(tmp_path / "smug" / "S010_004_00000018.png")
    with pytest.raises(DataError, match="matches no supported dataset layout"):
        readers.detect_format(str(tmp_path))
