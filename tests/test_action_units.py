"""Action units: the vocabulary, relatedness tables (file, prior, estimated) and AU
labels carried by records."""

import numpy as np
import pytest

from keras_dmtl.data.labels import action_units
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import FaceArrays
from keras_dmtl.data.records import FaceRecords
from tests.reader_helpers import write_text

HEADER = "expression,AU1,AU12,AU15"


def write_table(path, rows, header=HEADER):
    return write_text(path, "".join(f"{line}\n" for line in [header, *rows]))


@pytest.mark.parametrize("text, number", [("AU12", 12), ("au 01", 1), ("12", 12), (" AU45 ", 45)])
def test_action_units_are_read_as_people_write_them(text, number):
    assert action_units.parse_action_unit(text) == number
    assert action_units.action_unit_name(number) == f"AU{number}"


@pytest.mark.parametrize("text", ["AU3", "AU64", "12C", "smile", ""])
def test_what_is_not_a_facial_action_unit_is_refused(text):
    with pytest.raises(ValueError, match="is not a FACS action unit"):
        action_units.parse_action_unit(text)


def test_names_order_by_number_and_multi_hot_keeps_the_vocabulary():
    assert action_units.ordered_action_unit_names(["AU12", "AU2", "AU12", "AU10"]) == [
        "AU2", "AU10", "AU12"]
    assert action_units.multi_hot([12, 6, 53], (1, 6, 12)).tolist() == [0, 1, 1]
    assert set(action_units.DEFAULT_ACTION_UNITS) <= set(action_units.FACS_ACTION_UNITS)


def test_a_table_file_is_read_with_comments_and_laid_out_in_model_order(tmp_path):
    path = write_table(tmp_path / "t.csv", [
        "# from a study", "Happy, 0, 1, 0", "", "sadness,0.6,0,1"])
    table = action_units.load_relatedness_table(path)
    assert table.expressions == ("happy", "sadness")
    assert table.action_units == (1, 12, 15)
    assert table.source == path
    matrix = table.matrix(["neutral", "sadness", "happy"], ["AU15", "AU1"])
    assert matrix.dtype == np.float32
    np.testing.assert_allclose(matrix, [[0, 0], [1, 0.6], [0, 0]])


def test_what_a_table_lacks_is_named_or_read_as_never_present(tmp_path):
    table = action_units.load_relatedness_table(
        write_table(tmp_path / "t.csv", ["happy,0,1,0"]))
    with pytest.raises(DataError, match="no entry for fear, AU6: estimate one"):
        table.matrix(["happy", "fear"], ["AU12", "AU6"])
    np.testing.assert_array_equal(
        table.matrix(["happy", "fear"], ["AU12", "AU6"], absent="zero"), [[1, 0], [0, 0]])
    with pytest.raises(ValueError, match="absent='maybe'"):
        table.matrix(["happy"], ["AU12"], absent="maybe")


@pytest.mark.parametrize("rows, header, message", [
    (["happy,0,1,0"], "emotion,AU1,AU12,AU15", "line 1: the header is 'emotion"),
    (["happy,0,1,0"], "expression,AU1,AU3", "line 1: 'AU3' is not a FACS action unit"),
    (["happy,0,1,0"], "expression,AU1,1,AU15", "line 1: an AU has two columns"),
    (["happy,0,1"], HEADER, "line 2: expected 4 fields, found 3"),
    (["smirk,0,1,0"], HEADER, "line 2: 'smirk' is not an expression name"),
    (["happy,0,1.5,0"], HEADER, "line 2: '1.5' is not a probability"),
    (["happy,0,nan,0"], HEADER, "line 2: 'nan' is not a probability"),
    (["happy,0,x,0"], HEADER, "line 2: 'x' is not a probability"),
    (["happy,0,1,0", "happy,0,1,0"], HEADER, "line 3: happy has a second row"),
    ([], HEADER, "holds no relatedness rows"),
])
def test_a_malformed_table_is_named_with_its_line(tmp_path, rows, header, message):
    path = write_table(tmp_path / "bad.csv", rows, header)
    with pytest.raises(DataError, match=f"bad.csv.*{message}"):
        action_units.load_relatedness_table(path)


def test_a_missing_table_file_is_named(tmp_path):
    with pytest.raises(DataError, match="nothing.csv does not exist"):
        action_units.load_relatedness_table(str(tmp_path / "nothing.csv"))


def test_the_prior_table_covers_the_basic_expressions_over_the_default_units():
    table = action_units.prior_relatedness()
    assert table.expressions == ("anger", "disgust", "fear", "happy", "sadness", "surprise")
    assert table.action_units == action_units.DEFAULT_ACTION_UNITS
    names = action_units.action_unit_names(table.action_units)
    matrix = table.matrix(["happy", "surprise"], names)
    prototypical = {name for name, value in zip(names, matrix[0]) if value == 1}
    assert prototypical == {"AU12", "AU25"}
    assert {name for name, value in zip(names, matrix[1]) if value == 1} == {
        "AU1", "AU2", "AU25", "AU26"}
    # Every AU of the vocabulary belongs to some expression.
    assert (table.probabilities.max(axis=0) > 0).all()


def test_relatedness_is_estimated_from_co_labelled_samples_only():
    expression = np.array([0, 0, 0, 1, 1, -1])
    labels = np.array([[1, 0], [1, -1], [0, 1], [0, 0], [-1, 1], [1, 1]])
    table = action_units.estimate_relatedness(expression, labels, ["happy", "sadness"],
                                              ["AU12", "AU15"])
    # happy: AU12 present in 2 of 3 annotated, AU15 in 1 of 2; sadness: 0 of 1, 1 of 2.
    np.testing.assert_allclose(table.probabilities, [[2 / 3, 1 / 2], [0, 1 / 2]])
    assert table.source == "estimated from 5 co-labelled samples"
    smoothed = action_units.estimate_relatedness(expression, labels, ["happy", "sadness"],
                                                 ["AU12", "AU15"], smoothing=1.0)
    np.testing.assert_allclose(smoothed.probabilities, [[3 / 5, 2 / 4], [1 / 3, 2 / 4]])


def test_an_expression_without_co_labelled_samples_is_an_error_unless_smoothed():
    expression = np.array([0, 1])
    labels = np.array([[1], [-1]])
    with pytest.raises(DataError, match="both labels for sadness/AU12: add co-labelled"):
        action_units.estimate_relatedness(expression, labels, ["happy", "sadness"], ["AU12"])
    table = action_units.estimate_relatedness(expression, labels, ["happy", "sadness"],
                                              ["AU12"], smoothing=0.5)
    np.testing.assert_allclose(table.probabilities, [[0.75], [0.5]])
    for bad_expression, bad_labels in (([0, 1], labels), ([0, -2], labels), ([0, 0], [[1], [2]])):
        with pytest.raises(ValueError, match="do not fit"):
            action_units.estimate_relatedness(np.array(bad_expression), np.array(bad_labels),
                                              ["happy"], ["AU12"])


def test_records_default_to_no_annotated_units_and_subsets_carry_them():
    records = FaceRecords(["a", "b"], [0, 0], [-1, -1], ["s", "t"], ["x"], [], "m")
    assert records.action_units.shape == (2, 0) and records.action_unit_names == []
    labelled = FaceRecords(["a", "b", "c"], [0, 0, 0], [-1, -1, -1], ["s", "t", "u"], ["x"], [],
                           "m", action_units=[[1, 0], [-1, -1], [0, 1]],
                           action_unit_names=["AU1", "AU2"])
    assert labelled.action_units.dtype == np.int8
    assert labelled.subset([2, 0]).action_units.tolist() == [[0, 1], [1, 0]]
    arrays = FaceArrays(np.zeros((3, 2, 2, 1), np.uint8), labelled.identity, labelled.expression,
                        labelled.subject, ["x"], [], action_units=labelled.action_units,
                        action_unit_names=["AU1", "AU2"])
    assert arrays.subset([1]).action_units.tolist() == [[-1, -1]]
    assert FaceArrays(arrays.images, labelled.identity, labelled.expression, labelled.subject,
                      ["x"], []).action_units.shape == (3, 0)


@pytest.mark.parametrize("labels, names, message", [
    ([[1], [0]], ["AU1", "AU2"], "shape \\(2, 1\\), expected \\(2, 2\\)"),
    ([[2], [0]], ["AU1"], "values other than 1"),
    (None, ["AU1", "AU1"], "repeats a name"),
])
def test_records_refuse_action_units_that_do_not_fit(labels, names, message):
    with pytest.raises(ValueError, match=message):
        FaceRecords(["a", "b"], [0, 0], [-1, -1], ["s", "t"], ["x"], [], "m",
                    action_units=labels, action_unit_names=names)
