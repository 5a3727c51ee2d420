"""The readers as training calls them: --skip_bad_images reaches the reader."""

import types

import pytest

from keras_dmtl.data.records import DataError
from keras_dmtl.training import run
from tests.test_reader_ckplus48 import write_layout


def _data_settings(data_dir, skip_bad_images):
    # The settings `load_arrays` reads for a dataset on disk: plain attributes, so
    # the test holds whatever object carries the run config.
    return types.SimpleNamespace(data_dir=data_dir, dataset="auto",
                                 skip_bad_images=skip_bad_images, image_size=16, channels=1,
                                 detector="none", cache_dir=None,
                                 teacher=types.SimpleNamespace(model=None, embeddings=None))


def test_skip_bad_images_skips_a_badly_named_file_when_training_reads(tmp_path):
    data_dir, count = write_layout(tmp_path, bad_entry=True)
    with pytest.raises(DataError, match="face01.png.*--config.skip_bad_images"):
        run.load_arrays(_data_settings(data_dir, skip_bad_images=False))
    arrays = run.load_arrays(_data_settings(data_dir, skip_bad_images=True))
    assert len(arrays.identity) == count
    assert arrays.images.shape[1:3] == (16, 16)
