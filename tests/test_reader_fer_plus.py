"""The FER+ reader: crowd votes, the paper's majority rule, votes kept as soft labels."""

import numpy as np
import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.readers.fer_plus import majority_label
from keras_dmtl.data.records import EXPRESSION_VOTES
from keras_dmtl.data.records import DataError
from keras_dmtl.losses.masked import EXPRESSION_VOTES as LOSS_KEY
from tests.reader_helpers import label_names
from tests.reader_helpers import write_image
from tests.reader_helpers import write_text

# Votes in label.csv order: neutral, happiness, surprise, sadness, anger, disgust,
# fear, contempt, unknown, not-a-face.
HAPPY = (0, 8, 1, 0, 0, 0, 0, 0, 1, 0)
SAD_WITH_OUTLIER = (3, 0, 0, 6, 1, 0, 0, 0, 0, 0)  # anger's single vote is dropped
SURPRISE = (0, 2, 7, 0, 0, 0, 1, 0, 0, 0)
UNDECIDED = (4, 4, 0, 0, 0, 0, 0, 0, 2, 0)
NOT_A_FACE = (0, 0, 0, 0, 0, 0, 0, 0, 2, 8)


def row(name, votes):
    return f'{name},"(0, 0, 48, 48)",' + ",".join(str(v) for v in votes) + "\n"


def write_split(folder, rows, images=None):
    """A FER+ split folder with `rows` = [(file, votes)]; images for `images` (all)."""
    for name, _ in rows:
        if images is None or name in images:
            write_image(folder / name)
    write_text(folder / "label.csv", "".join(row(name, votes) for name, votes in rows))
    return str(folder)


def write_layout(directory, bad_entry=False):
    """Three decided faces; the bad entry is a row with a non-numeric vote."""
    rows = [("fer0000001.png", HAPPY), ("fer0000002.png", SAD_WITH_OUTLIER),
            ("fer0000003.png", SURPRISE)]
    path = write_split(directory / "FER2013Train", rows)
    if bad_entry:
        with open(directory / "FER2013Train" / "label.csv", "a") as stream:
            stream.write('fer0000004.png,"(0, 0, 48, 48)",1,x,0,0,0,0,0,0,0,0\n')
    return path, 3


@pytest.mark.parametrize("votes, label", [
    (HAPPY, "happy"), (SAD_WITH_OUTLIER, "sadness"), (SURPRISE, "surprise"),
    (UNDECIDED, None), (NOT_A_FACE, None), ((0, 0, 0, 0, 0, 0, 0, 0, 6, 4), None),
    # 5 of 10 is not more than half; with the single vote dropped, 5 of 9 is.
    ((5, 4, 0, 0, 0, 0, 0, 0, 0, 1), "neutral"), ((5, 5, 0, 0, 0, 0, 0, 0, 0, 0), None),
])
def test_majority_rule_of_the_ferplus_paper(votes, label):
    assert majority_label(votes) == label


def test_undecided_unknown_and_missing_images_are_left_out_and_votes_kept(tmp_path):
    rows = [("a.png", HAPPY), ("b.png", UNDECIDED), ("c.png", NOT_A_FACE),
            ("d.png", SAD_WITH_OUTLIER), ("e.png", SURPRISE)]
    root = write_split(tmp_path / "FER2013Test", rows, images={"a.png", "b.png", "c.png",
                                                               "d.png"})
    records = readers.read_dataset(root)
    assert records.dataset == "fer_plus"
    assert [s.rsplit("/", 1)[-1] for s in records.sources] == ["a.png", "d.png"]
    assert label_names(records.expression_names, records.expression) == ["happy", "sadness"]
    assert records.subject.tolist() == ["FER2013Test/a.png", "FER2013Test/d.png"]
    assert (records.identity == -1).all()
    votes = records.extras[EXPRESSION_VOTES]
    names = records.expression_names
    # The crowd's shares over the eight emotions, single votes included.
    np.testing.assert_allclose(votes[0, names.index("happy")], 8 / 9)
    np.testing.assert_allclose(votes[0, names.index("surprise")], 1 / 9)
    np.testing.assert_allclose(votes[1, [names.index(n) for n in ("neutral", "sadness",
                                                                  "anger")]], [0.3, 0.6, 0.1])
    np.testing.assert_allclose(votes.sum(axis=1), 1.0)
    # A subset keeps its votes row for row.
    np.testing.assert_array_equal(records.subset([1]).extras[EXPRESSION_VOTES], votes[1:])


def test_the_batch_key_is_the_loss_key():
    assert EXPRESSION_VOTES == LOSS_KEY


def test_a_folder_without_label_csv_is_named(tmp_path):
    write_image(tmp_path / "FER2013Train" / "a.png")
    with pytest.raises(DataError, match="has no label.csv"):
        readers.read_fer_plus(str(tmp_path / "FER2013Train"))
