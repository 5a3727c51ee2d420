"""Command-line startup: TensorFlow's native start-up lines are filtered, nothing else is;
the native chatter of conversions shows only with --verbosity=1."""

import subprocess
import sys

SCRIPT = """
from keras_dmtl.startup import quiet_native_startup
quiet_native_startup()
import sys
import tensorflow as tf
tf.constant(1.0) + 1.0
sys.stderr.write("fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32\\n")
sys.stderr.write("kept line\\n")
sys.stderr.write("partial")
raise SystemExit("an error the user must see")
"""


def test_native_startup_lines_are_filtered_and_the_rest_passes():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert result.stderr == "kept line\npartialan error the user must see\n", result.stderr


VERBOSE_SCRIPT = """
import sys
from absl import flags
from keras_dmtl.startup import quiet_logs, quiet_native_startup
quiet_native_startup()
flags.FLAGS(["command", "--verbosity=1"])
quiet_logs()
sys.stderr.write("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
"""


def test_native_chatter_shows_with_verbosity_1():
    result = subprocess.run([sys.executable, "-c", VERBOSE_SCRIPT], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
