"""`combine`: several datasets' records in one identity and expression space."""

import numpy as np
import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceArrays
from keras_dmtl.data.records import EXPRESSION_VOTES
from keras_dmtl.data.records import FaceRecords
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


def _labelled(names, rows, dataset):
    count = len(rows)
    return FaceRecords([f"{dataset}{i}.png" for i in range(count)], [-1] * count, [-1] * count,
                       [f"s{i}" for i in range(count)], [], [], dataset,
                       action_units=rows, action_unit_names=names)


def test_combine_merges_action_units_by_name_and_marks_the_rest_unannotated():
    first = _labelled(["AU12", "AU1"], [[1, 0], [0, -1]], "ckplus")
    second = _labelled(["AU01", "AU25"], [[1, 1]], "manifest")  # any spelling of an AU
    plain = FaceRecords(["p.png"], [-1], [-1], ["p"], [], [], "lfw")
    combined = readers.combine([first, second, plain])
    assert combined.action_unit_names == ["AU1", "AU12", "AU25"]
    assert combined.action_units.tolist() == [
        [0, 1, -1], [-1, 0, -1], [1, -1, 1], [-1, -1, -1]]
    arrays = [FaceArrays(np.zeros((len(part), 2, 2, 1), np.uint8), part.identity, part.expression,
                         part.subject, [], [], action_units=part.action_units,
                         action_unit_names=part.action_unit_names) for part in (first, plain)]
    merged = readers.combine_arrays(arrays, ["ckplus", "lfw"])
    assert merged.action_unit_names == ["AU1", "AU12"]
    assert merged.action_units.tolist() == [[0, 1], [-1, 0], [-1, -1]]
    assert merged.of_source(1).action_units.tolist() == [[-1, -1]]


def test_combine_remaps_expression_votes_by_class_and_zeros_the_sources_without():
    votes = FaceRecords(["v0.png", "v1.png"], [-1, -1], [0, 1], ["a", "b"], [],
                        ["happy", "surprise"], "fer_plus",
                        extras={EXPRESSION_VOTES: np.array([[0.75, 0.25], [0.0, 1.0]])})
    hard = FaceRecords(["h.png"], [-1], [0], ["c"], [], ["anger"], "jaffe")
    combined = readers.combine([hard, votes])
    assert combined.expression_names == ["anger", "happy", "surprise"]
    np.testing.assert_array_equal(combined.extras[EXPRESSION_VOTES],
                                  [[0, 0, 0], [0, 0.75, 0.25], [0, 0, 1]])
    arrays = [FaceArrays(np.zeros((len(part), 2, 2, 1), np.uint8), part.identity,
                         part.expression, part.subject, [], part.expression_names,
                         extras=part.extras) for part in (votes, hard)]
    merged = readers.combine_arrays(arrays, ["fer_plus", "jaffe"])
    np.testing.assert_array_equal(merged.extras[EXPRESSION_VOTES],
                                  [[0, 0.75, 0.25], [0, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(merged.of_source(0).extras[EXPRESSION_VOTES][:, 1:],
                                  votes.extras[EXPRESSION_VOTES])
