"""The LFW-with-expressions reader: people from file names, expressions from a legend."""

import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.readers.lfw_expressions import person_of
from keras_dmtl.data.records import DataError
from tests.reader_helpers import label_names
from tests.reader_helpers import write_image
from tests.reader_helpers import write_text


def write_set(root, legend_rows, names):
    for name in names:
        write_image(root / "images" / name)
    write_text(root / "data" / "legend.csv", "user.id,image,emotion\n" + "".join(
        f"{user},{name},{emotion}\n" for user, name, emotion in legend_rows))
    return str(root)


NAMES = ("Ann_Lee_0001.jpg", "Ann_Lee_0002.jpg", "Bo_Li_0001.jpg", "HrithikRoshan_12.jpg",
         "facial-expressions_2868588k.jpg")
LEGEND = [(1, "Ann_Lee_0001.jpg", "happiness"), (2, "Ann_Lee_0002.jpg", "NEUTRAL"),
          (1, "HrithikRoshan_12.jpg", "anger"), (3, "facial-expressions_2868588k.jpg", "sadness"),
          # Labelled three times: the most frequent label wins.
          (1, "Bo_Li_0001.jpg", "surprise"), (2, "Bo_Li_0001.jpg", "happiness"),
          (3, "Bo_Li_0001.jpg", "HAPPINESS")]


def write_layout(directory, bad_entry=False):
    """Five photos, four subjects; the bad entry is a legend row with no known expression."""
    legend = LEGEND + ([(9, "Ann_Lee_0001.jpg", "smug")] if bad_entry else [])
    return write_set(directory, legend, NAMES), 5


@pytest.mark.parametrize("name, person", [
    ("Aaron_Eckhart_0001.jpg", ("lfw", "Aaron_Eckhart")),
    ("Jean-Claude_Van_Damme_0002.jpg", ("lfw", "Jean-Claude_Van_Damme")),
    ("HrithikRoshan_101.jpg", ("imfdb", "HrithikRoshan")),
    ("facial-expressions_2868588k.jpg", None),
])
def test_the_person_comes_from_the_file_name(name, person):
    assert person_of(name) == person


def test_people_expressions_and_parts(tmp_path):
    root, _ = write_layout(tmp_path)
    records = readers.read_dataset(root)
    assert records.dataset == "lfw_expressions"
    assert label_names(records.identity_names, records.identity) == [
        "Ann_Lee", "Ann_Lee", "Bo_Li", "HrithikRoshan", None]
    assert label_names(records.expression_names, records.expression) == [
        "happy", "neutral", "happy", "anger", "sadness"]
    assert records.subject.tolist()[-1] == "facial-expressions_2868588k.jpg"
    imfdb = readers.read_lfw_expressions(root, part="imfdb")
    assert imfdb.identity_names == ["HrithikRoshan"] and len(imfdb) == 1
    assert len(readers.read_lfw_expressions(root, part="lfw")) == 3
    with pytest.raises(DataError, match="part='asia'"):
        readers.read_lfw_expressions(root, part="asia")
