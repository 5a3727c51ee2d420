"""The MATLAB face-array reader (scipy.io): images x (H, W, N), person numbers label."""

import numpy as np
import pytest
import scipy.io

from keras_dmtl.data import readers
from keras_dmtl.data.records import DataError


def write_mat(path, images, labels):
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), {"x": images, "label": np.asarray(labels).reshape(-1, 1)})
    return str(path)


def write_layout(directory, bad_entry=False):
    """Four 6x5 images of three people; the bad entry is an image labelled 0."""
    labels = [1, 1, 2, 3] + ([0] if bad_entry else [])
    images = np.stack([np.full((6, 5), 10 * i, np.uint8) for i in range(len(labels))], axis=-1)
    return write_mat(directory / "IMM.mat", images, labels), 4


def test_slices_are_images_and_labels_are_people(tmp_path):
    path, _ = write_layout(tmp_path)
    records = readers.read_dataset(path)
    assert records.dataset == "matlab_faces"
    assert [records.identity_names[i] for i in records.identity] == [
        "IMM_1", "IMM_1", "IMM_2", "IMM_3"]
    assert records.sources[2].shape == (6, 5) and records.sources[2].dtype == np.uint8
    assert int(records.sources[2][0, 0]) == 20
    assert (records.expression == -1).all()


def test_mismatched_counts_and_missing_arrays_are_named(tmp_path):
    path = write_mat(tmp_path / "bad.mat", np.zeros((4, 4, 3), np.uint8), [1, 2])
    with pytest.raises(DataError, match="expected \\(H, W, N\\)"):
        readers.read_matlab_faces(path)
    other = tmp_path / "other.mat"
    scipy.io.savemat(str(other), {"faces": np.zeros((2, 2))})
    with pytest.raises(DataError, match="lacks the arrays"):
        readers.read_matlab_faces(str(other))
