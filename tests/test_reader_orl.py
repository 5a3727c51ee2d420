"""The ORL (AT&T) faces reader on tiny fixtures in the published layout."""

import cv2
import numpy as np
import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.faces.loading import decode_image
from keras_dmtl.data.records import DataError
from tests.reader_helpers import write_image
from tests.reader_helpers import write_text


def write_layout(directory, bad_entry=False):
    """Three people s1, s2, s10 with PGMs; the bad entry is a misnamed PGM."""
    for name in ("s1/1.pgm", "s1/2.pgm", "s2/1.pgm", "s10/10.pgm", "s10/9.pgm"):
        write_image(directory / name)
    write_text(directory / "README", "The ORL face database")
    if bad_entry:
        write_image(directory / "s2" / "face.pgm")
    return str(directory), 5


def test_orl_identities_in_number_order_without_expressions(tmp_path):
    path, _ = write_layout(tmp_path)
    records = readers.read_orl(path)
    assert records.dataset == "orl"
    assert [str(s).split(str(tmp_path))[1] for s in records.sources] == [
        "/s1/1.pgm", "/s1/2.pgm", "/s2/1.pgm", "/s10/9.pgm", "/s10/10.pgm"]
    assert records.subject.tolist() == ["s1", "s1", "s2", "s10", "s10"]
    assert [records.identity_names[i] for i in records.identity] == records.subject.tolist()
    assert records.expression.tolist() == [-1] * 5
    assert records.expression_names == []


def test_orl_bad_entries_are_named(tmp_path):
    path, _ = write_layout(tmp_path, bad_entry=True)
    with pytest.raises(DataError, match=r"s2/face.pgm is not a numbered ORL image"):
        readers.read_orl(path)
    write_image(tmp_path / "extra" / "1.pgm")
    with pytest.raises(DataError, match=r"extra is not an ORL person folder"):
        readers.read_orl(path, skip_bad=False)


def test_orl_pgm_decodes(tmp_path):
    pixels = (np.arange(112 * 92) % 251).astype(np.uint8).reshape(112, 92)
    (tmp_path / "s1").mkdir()
    assert cv2.imwrite(str(tmp_path / "s1" / "1.pgm"), pixels)
    image = decode_image(readers.read_orl(str(tmp_path)).sources[0])
    assert image.shape == (112, 92, 3)
    np.testing.assert_array_equal(image[..., 0], pixels)


def test_an_identity_set_with_an_s_folder_stays_lfw(tmp_path):
    write_image(tmp_path / "s3" / "s3_0001.jpg")
    write_image(tmp_path / "Ann_Lee" / "Ann_Lee_0001.jpg")
    assert readers.detect_format(str(tmp_path)) == "lfw"
