"""`combine`: several datasets' records in one identity and expression space."""

import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.records import DataError
from tests.reader_helpers import label_names
from tests.reader_helpers import write_image
from tests.test_reader_ckplus import write_ckplus
from tests.test_reader_fer2013 import fer_row
from tests.test_reader_fer2013 import write_fer2013
from tests.test_reader_lfw import write_lfw
from tests.test_reader_manifest import write_manifest


def test_combine_identity_only_with_expression_only_keeps_missing(tmp_path):
    lfw = readers.read_lfw(write_lfw(tmp_path / "lfw"))
    fer = readers.read_fer2013(write_fer2013(tmp_path / "fer2013.csv", [
        fer_row(3, 1, "Training"), fer_row(6, 2, "Training")]))
    combined = readers.combine([lfw, fer])
    assert combined.dataset == "lfw+fer2013"
    assert len(combined) == 6
    assert combined.identity.tolist() == [0, 0, 1, 2, -1, -1]
    assert combined.identity_names == ["Ann_Lee", "Bob_Smith", "Cy_Twombly"]
    assert combined.expression_names == fer.expression_names
    assert label_names(combined.expression_names, combined.expression) == [
        None, None, None, None, "happy", "neutral"]
    assert combined.subject.tolist()[3:] == ["lfw/Cy_Twombly", "fer2013/fer2013_0",
                                             "fer2013/fer2013_1"]


def test_combine_unifies_expressions_and_prefixes_shared_names(tmp_path):
    write_ckplus(tmp_path / "ck", [("S005", "001", 3, "5.0")])
    write_image(tmp_path / "c48" / "fear" / "S005_001_00000003.png")
    write_image(tmp_path / "c48" / "happy" / "S077_001_00000003.png")
    ck = readers.read_ckplus(str(tmp_path / "ck"))
    ck48 = readers.read_ckplus48(str(tmp_path / "c48"))
    combined = readers.combine([ck48, ck])
    assert combined.identity_names == ["ckplus48/S005", "S077", "ckplus/S005"]
    assert combined.identity.tolist() == [0, 1, 2, 2, 2]
    assert combined.expression_names == ck.expression_names
    assert label_names(combined.expression_names, combined.expression) == [
        "fear", "happy", "happy", "happy", "happy"]
    assert set(combined.subject[:2]) == {"ckplus48/S005", "ckplus48/S077"}
    assert set(combined.subject[2:]) == {"ckplus/S005"}


def test_combine_two_sources_of_one_format_stay_apart(tmp_path):
    write_image(tmp_path / "a.png")
    first = readers.read_manifest(write_manifest(tmp_path / "1.csv", ["a.png,x,"]))
    second = readers.read_manifest(write_manifest(tmp_path / "2.csv", ["a.png,x,"]))
    combined = readers.combine([first, second])
    assert combined.identity_names == ["manifest1/x", "manifest2/x"]
    assert combined.subject.tolist() == ["manifest1/x", "manifest2/x"]


def test_combine_of_nothing_says_what_to_pass():
    with pytest.raises(DataError, match="combine\\(\\) was given no records"):
        readers.combine([])
