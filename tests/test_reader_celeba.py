"""The CelebA reader: identities from identity_CelebA.txt, a subset of photos present."""

import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.records import DataError
from tests.reader_helpers import write_image
from tests.reader_helpers import write_text


def write_layout(directory, bad_entry=False):
    """Four photos of three people (a fifth listed but absent); the bad entry is a
    malformed line."""
    for name in ("000001.jpg", "000002.jpg", "000003.jpg", "000004.jpg"):
        write_image(directory / "Celeb" / name)
    lines = ["image identity", "000001.jpg 2880", "000002.jpg 12", "000003.jpg 2880",
             "000004.jpg 7", "000005.jpg 7"]
    if bad_entry:
        lines.insert(3, "000009.jpg seven")
    write_text(directory / "identity_CelebA.txt", "\n".join(lines) + "\n")
    return str(directory), 4


def test_identities_of_the_photos_present(tmp_path):
    root, _ = write_layout(tmp_path)
    records = readers.read_dataset(root)
    assert records.dataset == "celeba"
    assert [s.rsplit("/", 1)[-1] for s in records.sources] == [
        "000001.jpg", "000002.jpg", "000003.jpg", "000004.jpg"]
    names = [records.identity_names[i] for i in records.identity]
    assert names == ["celeba_2880", "celeba_12", "celeba_2880", "celeba_7"]
    assert (records.expression == -1).all()


def test_two_photo_folders_are_refused(tmp_path):
    root, _ = write_layout(tmp_path)
    write_image(tmp_path / "img_align_celeba" / "000001.jpg")
    with pytest.raises(DataError, match="expected one folder of photos"):
        readers.read_celeba(root)
