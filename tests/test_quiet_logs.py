"""A run's log a person can read: a line an epoch off a terminal, each warning once,
the libraries' INFO chatter only with --verbosity=1."""

import io
import logging
import os
import re
import subprocess
import sys

import tensorflow as tf

from keras_dmtl.startup import ReadableLog
from keras_dmtl.training.progress import EpochLine
from keras_dmtl.training.progress import progress_reporting

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS = 2
# What `python train.py > log` showed before: TensorFlow's SavedModel writer,
# tf2onnx, the TFLite converter and interpreter, TF's calibrator's deprecation.
CHATTER = re.compile(r"signature_serialization|functional_saver|fingerprinting_utils|"
                     r"builder_impl|tfonnx|tf_utils\.py|fully_quantize|XNNPACK|"
                     r"tf\.lite\.Interpreter is deprecated")
# absl's prefix of a logged line: level letter, date, time, thread, file:line.
ABSL_PREFIX = re.compile(r"^([IWEF])\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] ")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _record(level, message, pathname):
    return logging.LogRecord("any", level, pathname, 1, message, None, None)


def test_warnings_pass_once_and_library_info_only_when_asked():
    tensorflow_file = os.path.join(os.path.dirname(tf.__file__), "python", "saved_model", "x.py")
    ours = os.path.join(ROOT, "keras_dmtl", "export", "calibration.py")
    quiet = ReadableLog()
    assert quiet.filter(_record(logging.WARNING, "pairs cannot back FAR 2e-05", ours))
    assert not quiet.filter(_record(logging.WARNING, "pairs cannot back FAR 2e-05", ours))
    assert quiet.filter(_record(logging.WARNING, "pairs cannot back FAR 1e-03", ours))
    assert quiet.filter(_record(logging.ERROR, "failed", ours))
    assert quiet.filter(_record(logging.ERROR, "failed", ours))  # errors always pass
    assert quiet.filter(_record(logging.INFO, "Loaded 840 cached face crops", ours))
    assert not quiet.filter(_record(logging.INFO, "Sharding callback duration", tensorflow_file))
    assert quiet.filter(_record(logging.WARNING, "a TensorFlow warning", tensorflow_file))
    assert ReadableLog(show_chatter=True).filter(
        _record(logging.INFO, "Sharding callback duration", tensorflow_file))


def test_a_progress_bar_only_on_a_terminal():
    assert progress_reporting(1, 5, _Terminal()) == (1, [])
    assert progress_reporting(0, 5, io.StringIO()) == (0, [])
    for verbose, stream in ((1, io.StringIO()), (2, _Terminal())):
        keras_verbose, reporting = progress_reporting(verbose, 5, stream)
        assert keras_verbose == 0 and [type(c) for c in reporting] == [EpochLine]


def test_an_epoch_line_holds_every_figure_of_the_logs():
    stream = io.StringIO()
    line = EpochLine(20, stream)
    line.on_epoch_begin(2)
    line.on_epoch_end(2, {"loss": 4.27381, "val_face_loss": 0.0, "w_face": 0.41792})
    assert re.fullmatch(r"Epoch 3/20 \(\d+\.\d s\): loss 4\.274, val_face_loss 0, "
                        r"w_face 0\.4179\n", stream.getvalue())


def test_train_py_into_a_file_writes_a_short_log(tmp_path):
    # A pipe, as `python train.py > log 2>&1`: Keras would draw progress bars,
    # the export calibrates (and warns) once per format and converts to ONNX
    # and int8 TFLite, each of which narrated its work.
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"), f"--config.epochs={EPOCHS}",
         f"--config.out_dir={tmp_path / 'run'}", f"--config.cache_dir={tmp_path / 'cache'}",
         "--config.image_size=32", "--config.generated_identities=6",
         "--config.generated_sequences=1", "--config.embedding_dim=16",
         "--config.jit_compile=false", "--config.export.representative_samples=20",
         "--config.export.formats=('onnx', 'tflite_float32', 'tflite_int8')"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600,
        cwd=str(tmp_path))
    log = result.stdout
    assert result.returncode == 0, log
    lines = log.splitlines()
    assert "\r" not in log and "\b" not in log  # no progress bar redrawn into the file
    assert [line.split(" (")[0] for line in lines if line.startswith("Epoch ")] == [
        f"Epoch {epoch}/{EPOCHS}" for epoch in range(1, EPOCHS + 1)]
    assert not CHATTER.search(log), [line for line in lines if CHATTER.search(line)]
    warnings = [ABSL_PREFIX.sub("", line) for line in lines if line.startswith("W")]
    assert warnings and len(warnings) == len(set(warnings)), warnings  # "not backed": once
    for expected in ("Run folder:", "      test:", "| tflite_int8 |", "Exported to"):
        assert expected in log
    # Summary (4), export table (11), the epochs, and a few logged lines: no more.
    assert len(lines) <= EPOCHS + 24, log
