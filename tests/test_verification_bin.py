"""insightface's verification .bin sets: read back, and never a line of their code run."""

import os
import pickle

import numpy as np
import pytest

from keras_dmtl.data.records import DataError
from keras_dmtl.data.verification_bin import decode_pairs
from keras_dmtl.data.verification_bin import read_verification_bin
from tests.reader_helpers import jpeg_bytes

ISSAME = [True, False, True]


def _jpegs():
    return [jpeg_bytes(30 * i + 10, size=12) for i in range(2 * len(ISSAME))]


def _write(path, obj, protocol=pickle.HIGHEST_PROTOCOL):
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=protocol)
    return str(path)


def _python2_pickle(images, issame):
    """(images, issame) as Python 2's pickle (protocol 2) writes str and bool:
    SHORT_BINSTRING / BINSTRING, which Python 3 reads only with encoding="bytes"."""
    out = [b"\x80\x02(]("]
    for image in images:
        if len(image) < 256:
            out.append(b"U" + bytes([len(image)]) + image)
        else:
            out.append(b"T" + len(image).to_bytes(4, "little") + image)
    out.append(b"e](" + b"".join(b"\x88" if same else b"\x89" for same in issame) + b"et.")
    return b"".join(out)


@pytest.mark.parametrize("form", ["python3", "python2", "numpy_protocol2", "numpy_protocol5"])
def test_a_bin_reads_back_in_every_form_insightface_wrote(tmp_path, form):
    images = _jpegs()
    path = str(tmp_path / "lfw.bin")
    if form == "python3":
        _write(path, (images, ISSAME))
    elif form == "python2":
        (tmp_path / "lfw.bin").write_bytes(_python2_pickle(images, ISSAME))
    else:  # cv2.imencode output, as agedb2pack.py / cfp2pack.py pickle it
        arrays = [np.frombuffer(image, np.uint8).reshape(-1, 1).copy() for image in images]
        _write(path, (arrays, ISSAME), protocol=2 if form == "numpy_protocol2" else 5)
    pairs = read_verification_bin(path)
    assert pairs.name == "lfw" and len(pairs) == 3
    assert pairs.images == images
    assert pairs.is_same.tolist() == ISSAME
    crops = decode_pairs(pairs, image_size=8, channels=1)
    assert crops.shape == (6, 8, 8, 1) and crops.dtype == np.uint8
    assert np.abs(crops.reshape(6, -1).mean(axis=1) - [10, 40, 70, 100, 130, 160]).max() < 3
    assert decode_pairs(pairs, image_size=16, channels=3).shape == (6, 16, 16, 3)


class _Exploit:
    """Pickles as a call to os.system: what a malicious .bin would hold."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_a_bin_that_calls_a_function_is_refused_and_nothing_runs(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = _write(tmp_path / "evil.bin",
                  ([_Exploit(f"touch {marker}")] + _jpegs()[1:], ISSAME), protocol)
    with pytest.raises(DataError, match=r"evil.bin: refusing to load this verification .bin: "
                                        r"it asks to import (posix|os|nt)\.system"):
        read_verification_bin(path)
    assert not marker.exists()
    with open(path, "rb") as handle:  # the same file does run code when unpickled plainly
        assert b"system" in handle.read()


@pytest.mark.parametrize("obj, message", [
    (([np.zeros((4, 1), np.float32)] * 6, ISSAME), r"holds an array of dtype 'f4', not uint8"),
    ((_jpegs(), np.array(ISSAME)), r"holds an array of dtype 'b1', not uint8"),
    ((_jpegs(), list(np.array(ISSAME))), r"it asks to import numpy\.(_core|core)\.multiarray"
                                         r"\.scalar"),
    ((_jpegs(), [1, 0, 1]), "its second element is not a list of bools"),
    ((_jpegs()[:5], ISSAME), "5 images for 3 pairs"),
    ((["x"] * 6, ISSAME), "its first element is not a list of image bytes"),
    ({"bins": _jpegs()}, "holds a dict, not the pair"),
])
def test_anything_but_images_and_bools_is_refused(tmp_path, obj, message):
    with pytest.raises(DataError, match=message):
        read_verification_bin(_write(tmp_path / "odd.bin", obj))


def test_a_truncated_or_missing_bin_is_named(tmp_path):
    data = pickle.dumps((_jpegs(), ISSAME))
    (tmp_path / "cut.bin").write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match="cut.bin is not a verification .bin"):
        read_verification_bin(str(tmp_path / "cut.bin"))
    with pytest.raises(DataError, match="nowhere.bin: cannot be read"):
        read_verification_bin(str(tmp_path / "nowhere.bin"))


def test_an_undecodable_image_is_named_by_its_index(tmp_path):
    images = _jpegs()
    images[3] = b"not a jpeg"
    pairs = read_verification_bin(_write(tmp_path / "agedb_30.bin", (images, ISSAME)))
    with pytest.raises(DataError, match=r"agedb_30.bin image 3 \(pair 1\) is not a readable"):
        decode_pairs(pairs, image_size=8, channels=1)
