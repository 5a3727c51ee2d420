"""Command-line startup: TensorFlow's native start-up lines are filtered, nothing else is."""

import subprocess
import sys

SCRIPT = """
from keras_dmtl.startup import quiet_native_startup
quiet_native_startup()
import sys
import tensorflow as tf
tf.constant(1.0) + 1.0
sys.stderr.write("kept line\\n")
sys.stderr.write("partial")
raise SystemExit("an error the user must see")
"""


def test_native_startup_lines_are_filtered_and_the_rest_passes():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert result.stderr == "kept line\npartialan error the user must see\n", result.stderr
