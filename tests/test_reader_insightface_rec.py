"""insightface's RecordIO sets, read without MXNet, on .rec/.idx files written here."""

import os
import pickle

import numpy as np
import pytest

from keras_dmtl.data import readers
from keras_dmtl.data.faces.loading import load_faces
from keras_dmtl.data.readers.insightface_rec import InsightfaceRec
from keras_dmtl.data.readers.insightface_rec import read_insightface_rec
from keras_dmtl.data.readers.recordio import RecordIOFile
from keras_dmtl.data.records import DataError
from tests.reader_helpers import RECORDIO_MAGIC
from tests.reader_helpers import frame_record
from tests.reader_helpers import jpeg_bytes
from tests.reader_helpers import pack_image_record
from tests.reader_helpers import write_recordio
from tests.reader_helpers import write_text

# Identity of each image, in record order (records 1..7).
LABELS = [0, 0, 1, 1, 1, 2, 2]


def write_insightface_set(root, labels=LABELS, extra_images=(), header=True, num_classes=3):
    """An insightface set as its tools write it: images as records 1..n, then one
    record per identity with its range of records, then header record 0 whose labels
    (n + 1, end) say where the images stop; and `property`.

    Returns the JPEG bytes of the images, in record order (extra_images last).
    """
    images = [(jpeg_bytes(40 + 20 * i), float(label)) for i, label in enumerate(labels)]
    images += list(extra_images)
    records = [(key, pack_image_record(label, jpeg, key))
               for key, (jpeg, label) in enumerate(images, start=1)]
    if header:
        first_identity = len(records) + 1
        for identity in sorted(set(labels)):
            keys = [k for k, (_, label) in enumerate(images, start=1) if label == identity]
            records.append((len(records) + 1,
                            pack_image_record([keys[0], keys[-1] + 1], b"", len(records) + 1)))
        records.append((0, pack_image_record([first_identity, len(records) + 1], b"", 0, 1)))
    else:  # a set without a header record: every record is an image
        records = [(key - 1, data) for key, data in records]
    write_recordio(root / "train.rec", root / "train.idx", records)
    if num_classes:
        write_text(root / "property", f"{num_classes},112,112\n{len(images)}\n")
    return [jpeg for jpeg, _ in images]


def write_layout(directory, bad_entry=False):
    """Seven images of three identities; the bad entry is an image labelled 5 of 3 classes."""
    extra = [(jpeg_bytes(200), 5.0)] if bad_entry else []
    write_insightface_set(directory, extra_images=extra)
    return str(directory), len(LABELS)


def test_images_and_identities_come_back_in_record_order(tmp_path):
    jpegs = write_insightface_set(tmp_path)
    faces = InsightfaceRec(str(tmp_path))
    assert len(faces) == len(LABELS)
    assert faces.num_classes == 3 and faces.image_size == (112, 112)
    assert faces[3] == (jpegs[3], 1)
    assert list(faces) == list(zip(jpegs, LABELS))
    # A copy for another process (pickled) opens its own file.
    assert pickle.loads(pickle.dumps(faces))[6] == (jpegs[6], 2)
    faces.close()


def test_a_record_that_is_no_labelled_image_is_named(tmp_path):
    write_layout(tmp_path, bad_entry=True)
    faces = InsightfaceRec(str(tmp_path))
    assert faces[6][1] == 2
    with pytest.raises(DataError, match=r"train.rec record 8 \(offset \d+\): its label 5 is "
                                        r"beyond the 3 classes of property"):
        faces[7]


def test_records_point_into_the_rec_file_and_decode(tmp_path):
    write_insightface_set(tmp_path)
    records = read_insightface_rec(str(tmp_path))
    assert records.dataset == "insightface_rec"
    assert records.identity.tolist() == LABELS
    assert records.subject.tolist() == [str(label) for label in LABELS]
    assert records.identity_names == ["0", "1", "2"]
    assert (records.expression == -1).all()
    assert "train.rec record 4 (offset" in str(records.sources[3])
    faces = load_faces(records, image_size=8, channels=1, cache_dir=str(tmp_path / "cache"))
    expected = [40 + 20 * i for i in range(len(LABELS))]
    assert np.abs(faces.images.reshape(len(LABELS), -1).mean(axis=1) - expected).max() < 3
    cached = load_faces(records, image_size=8, channels=1, cache_dir=str(tmp_path / "cache"))
    np.testing.assert_array_equal(cached.images, faces.images)


def test_a_multi_label_image_and_a_set_without_header(tmp_path):
    # Image records may carry several labels (flag > 0): the first is the identity.
    multi = [(jpeg_bytes(90), [2.0, 7.0, 1.0])]
    write_insightface_set(tmp_path / "multi", extra_images=multi)
    assert InsightfaceRec(str(tmp_path / "multi"))[len(LABELS)][1] == 2
    jpegs = write_insightface_set(tmp_path / "plain", header=False, num_classes=None)
    faces = InsightfaceRec(str(tmp_path / "plain"))
    assert faces.num_classes is None
    assert list(faces) == list(zip(jpegs, LABELS))
    assert read_insightface_rec(str(tmp_path / "plain")).identity_names == ["0", "1", "2"]


def test_a_record_holding_the_magic_is_joined_from_its_parts(tmp_path):
    # dmlc-core splits a record where the magic sits at a 4-aligned position of its
    # data (flags 1, 2, 3) and drops the magic; reading puts it back.
    payload = b"\xff\xd8ab" + RECORDIO_MAGIC + b"cdef" + RECORDIO_MAGIC + b"tail!"
    data = pack_image_record(1.0, payload, 1)
    assert len(frame_record(data)) > len(data) + 8  # written in three parts
    write_recordio(tmp_path / "x.rec", tmp_path / "x.idx", [(1, data), (2, b"after")])
    with RecordIOFile(str(tmp_path / "x.rec"), str(tmp_path / "x.idx")) as records:
        assert records.read(1) == data
        assert records.read(2) == b"after"


def test_a_truncated_rec_file_is_named(tmp_path):
    write_insightface_set(tmp_path)
    rec = tmp_path / "train.rec"
    data = rec.read_bytes()
    header_offset = int((tmp_path / "train.idx").read_text().splitlines()[-1].split("\t")[1])
    rec.write_bytes(data[:-6])  # header record 0, written last, is cut short
    with pytest.raises(DataError, match=rf"train.rec at offset {header_offset}: the file ends "
                                        r"inside a \d+-byte record .* truncated"):
        read_insightface_rec(str(tmp_path))
    image_offset = int((tmp_path / "train.idx").read_text().splitlines()[6].split("\t")[1])
    rec.write_bytes(data[:image_offset + 20])  # and now everything after record 7 too
    with pytest.raises(DataError, match=r"train.idx line \d+: offset \d+ is not a record "
                                        r"position in .*train.rec \(\d+ bytes\)"):
        read_insightface_rec(str(tmp_path))


def test_a_bad_magic_is_named_with_its_offset(tmp_path):
    write_insightface_set(tmp_path)
    records = read_insightface_rec(str(tmp_path))
    rec = tmp_path / "train.rec"
    offset = int((tmp_path / "train.idx").read_text().splitlines()[2].split("\t")[1])
    data = bytearray(rec.read_bytes())
    data[offset:offset + 4] = b"JUNK"
    rec.write_bytes(bytes(data))
    with pytest.raises(DataError, match=rf"train.rec at offset {offset}: no RecordIO record "
                                        r"starts here \(magic 0x4b4e554a, expected 0xced7230a\)"):
        read_insightface_rec(str(tmp_path), skip_bad=True)  # corruption is never skipped
    # Records read before the damage name it when their images are decoded...
    with pytest.raises(DataError, match=rf"train.rec at offset {offset}: no RecordIO record"):
        load_faces(records, image_size=8, channels=1)
    # ...or count it as a bad image when asked to skip those.
    assert len(load_faces(records, image_size=8, channels=1, skip_bad_images=True)) == 6


@pytest.mark.parametrize("idx, property_text, message", [
    ("1\t0\n1\t0\n", None, "key 1 appears twice"),
    ("1\tzero\n", None, r"train.idx line 1: expected 'key<TAB>offset'"),
    ("1\t6\n", None, r"train.idx line 1: offset 6 is not a record position"),
    (None, "many,112,112\n", r"property line 1: expected 'num_classes,height,width'"),
])
def test_a_broken_index_or_property_is_named(tmp_path, idx, property_text, message):
    write_insightface_set(tmp_path)
    if idx is not None:
        write_text(tmp_path / "train.idx", idx)
    if property_text is not None:
        write_text(tmp_path / "property", property_text)
    with pytest.raises(DataError, match=message):
        read_insightface_rec(str(tmp_path))


def test_a_header_that_disagrees_with_the_index_is_named(tmp_path):
    write_insightface_set(tmp_path)
    lines = (tmp_path / "train.idx").read_text().splitlines()
    write_text(tmp_path / "train.idx", "\n".join(lines[:4] + lines[-1:]) + "\n")
    with pytest.raises(DataError, match="record 0: its header says the images are records 1 "
                                        "to 8.0 - 1, but .*train.idx lists 5 records"):
        len(InsightfaceRec(str(tmp_path)))


def test_missing_files_are_named(tmp_path):
    write_insightface_set(tmp_path)
    os.remove(tmp_path / "train.idx")
    with pytest.raises(DataError, match="train.idx does not exist: pass the path of "
                                        "insightface's train.idx"):
        InsightfaceRec(str(tmp_path))
