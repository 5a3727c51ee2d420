"""The JAFFE reader on tiny fixtures named as the published files are."""

import cv2
import numpy as np
import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.faces.loading import decode_image
from keras_dmtl.data.records import DataError
from tests.reader_helpers import label_names
from tests.reader_helpers import write_image
from tests.reader_helpers import write_text


def write_layout(directory, bad_entry=False):
    """Three subjects in one flat folder of TIFFs; the bad entry is a misnamed TIFF."""
    for name in ("KA.AN1.39.tiff", "KA.NE1.26.tiff", "KL.HA1.158.tiff", "YM.SU3.60.tiff"):
        write_image(directory / name)
    if bad_entry:
        write_image(directory / "KA_smile.tiff")
    return str(directory), 4


def test_jaffe_codes_map_onto_canonical_expressions_and_subjects(tmp_path):
    write_layout(tmp_path)
    write_image(tmp_path / "NM.SA2.110.tiff")
    write_image(tmp_path / "TM.DI3.192.png")  # a converted copy keeps the names
    write_image(tmp_path / "UY.FE1.143.TIF")
    write_text(tmp_path / "README", "not an image: ignored")
    records = readers.read_jaffe(str(tmp_path))
    assert records.dataset == "jaffe"
    assert records.expression_names == [
        "neutral", "anger", "disgust", "fear", "happy", "sadness", "surprise"]
    assert [str(s).rsplit("/", 1)[1] for s in records.sources] == [
        "KA.AN1.39.tiff", "KA.NE1.26.tiff", "KL.HA1.158.tiff", "NM.SA2.110.tiff",
        "TM.DI3.192.png", "UY.FE1.143.TIF", "YM.SU3.60.tiff"]
    assert label_names(records.expression_names, records.expression) == [
        "anger", "neutral", "happy", "sadness", "disgust", "fear", "surprise"]
    assert records.subject.tolist() == ["KA", "KA", "KL", "NM", "TM", "UY", "YM"]
    assert label_names(records.identity_names, records.identity) == records.subject.tolist()


def test_jaffe_badly_named_file_is_named(tmp_path):
    path, _ = write_layout(tmp_path, bad_entry=True)
    with pytest.raises(DataError, match=r"KA_smile.tiff is not named like a JAFFE image "
                                        r"\(KA.AN1.39.tiff"):
        readers.read_jaffe(path)
    write_image(tmp_path / "KA.XX1.40.tiff")  # no such expression code
    with pytest.raises(DataError, match=r"KA.XX1.40.tiff is not named like a JAFFE image"):
        readers.read_jaffe(path, skip_bad=False)


def test_jaffe_subfolder_is_a_bad_entry(tmp_path):
    path, count = write_layout(tmp_path)
    write_image(tmp_path / "more" / "KM.HA1.4.tiff")
    with pytest.raises(DataError, match=r"more is a folder: the JAFFE layout is one flat folder"):
        readers.read_jaffe(path)
    assert len(readers.read_jaffe(path, skip_bad=True)) == count


def test_jaffe_tiff_decodes_as_grayscale_and_rgb(tmp_path):
    # JAFFE ships 8-bit gray TIFFs, some of them stored as three equal channels.
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3
    assert cv2.imwrite(str(tmp_path / "KA.AN1.39.tiff"), gray)
    assert cv2.imwrite(str(tmp_path / "KA.AN2.40.tiff"), np.dstack([gray] * 3))
    for source in readers.read_jaffe(str(tmp_path)).sources:
        image = decode_image(source)
        assert image.shape == (8, 8, 3)
        np.testing.assert_array_equal(image[..., 1], gray)


def test_jaffe_is_not_taken_for_another_layout_nor_takes_one(tmp_path):
    write_image(tmp_path / "jaffe" / "KA.AN1.39.tiff")
    write_image(tmp_path / "jaffe" / "KA_smile.tiff")
    assert readers.detect_format(str(tmp_path / "jaffe")) == "jaffe"
    # Images without JAFFE names directly in a folder are no layout at all.
    write_image(tmp_path / "photos" / "KA.tiff")
    with pytest.raises(DataError, match="matches no supported dataset layout"):
        readers.detect_format(str(tmp_path / "photos"))
