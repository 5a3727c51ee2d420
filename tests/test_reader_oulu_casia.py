"""The Oulu-CASIA reader on tiny fixtures in the published layout."""

import os

import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.records import DataError
from tests.reader_helpers import label_names
from tests.reader_helpers import write_image


def write_layout(directory, bad_entry=False):
    """Three subjects nested under lighting folders; the bad entry is an unknown expression."""
    subjects = directory / "NI" / "Weak"
    for subject, expression in (("P001", "Happiness"), ("P002", "Fear"), ("P003", "Anger")):
        for frame in range(4):
            write_image(subjects / subject / expression / f"{frame:03d}.jpeg")
    if bad_entry:
        write_image(subjects / "P003" / "Bored" / "000.jpeg")
    return str(directory), 9


def test_oulu_casia_nested_subjects_and_last_frames(tmp_path):
    for light in ("Strong", "Dark"):
        for frame in range(5):
            write_image(tmp_path / "VL" / light / "P001" / "Happiness" / f"{frame:03d}.jpeg")
    for frame in (1, 2, 9, 10):
        write_image(tmp_path / "VL" / "Strong" / "P002" / "Surprise" / f"{frame}.jpeg")
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
    assert label_names(records.expression_names, records.expression) == (
        ["happy"] * 6 + ["surprise"] * 3)


@pytest.mark.parametrize("folder", ["Bored", "Contempt"])
def test_oulu_casia_unknown_expression_folder_is_named(tmp_path, folder):
    write_image(tmp_path / "P001" / "Anger" / "000.jpeg")
    write_image(tmp_path / "P001" / folder / "000.jpeg")
    with pytest.raises(DataError, match=f"{folder} is not an expression folder"):
        readers.read_oulu_casia(str(tmp_path))
