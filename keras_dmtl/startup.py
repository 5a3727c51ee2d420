"""Quiet command-line startup: TensorFlow's native start-up lines are filtered out.

TensorFlow's C++ core logs a dozen lines on import (CUDA stubs on a machine
without a GPU, CPU instruction sets, oneDNN) before absl logging is initialised,
so `TF_CPP_MIN_LOG_LEVEL` does not reach them. A command that calls
`quiet_native_startup()` before it imports TensorFlow routes the process's
stderr (file descriptor 2) through a filter that drops exactly those lines and
passes everything else through at once (warnings, errors, tracebacks, progress
bars).

TF-free; the library never calls it, only the command-line entry points.
"""

import atexit
import os
import re
import select
import sys
import threading

# The start-up lines, and nothing a user needs: each names its C++ source file
# or is the fixed text TensorFlow prints around them.
NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IWE]\d{4} [\d:. ]+\d+ (cudart_stub|cuda_platform|cuda_executor|cuda_dnn|cuda_fft"
    rb"|cuda_blas|cpu_feature_guard|computation_placer|port)\.cc:\d+\]"
    rb"|To enable the following instructions:"
    rb"|oneDNN custom operations are on)")
# A partial line is held back (to see whether it is noise) only this long.
_HOLD_SECONDS = 0.1
_installed = False


def quiet_native_startup():
    """Filters TensorFlow's native start-up lines out of stderr, for this process.

    Call it first thing in a command-line entry point; calling it again does nothing.
    """
    global _installed
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if _installed:
        return
    try:
        original = os.dup(2)
    except OSError:  # no stderr to filter
        return
    _installed = True
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    forwarder = threading.Thread(target=_forward, args=(read_end, original), daemon=True)
    forwarder.start()

    def restore():
        sys.stderr.flush()
        os.dup2(original, 2)  # the pipe's last writer goes: the forwarder sees its end
        forwarder.join(timeout=2.0)

    atexit.register(restore)


def _forward(read_end, destination):
    pending = b""
    while True:
        ready, _, _ = select.select([read_end], [], [], _HOLD_SECONDS if pending else None)
        if not ready:  # a partial line that waited long enough: show it
            os.write(destination, pending)
            pending = b""
            continue
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        kept = b"".join(line + b"\n" for line in lines if not NOISE.match(line))
        if kept:
            os.write(destination, kept)
    if pending and not NOISE.match(pending):
        os.write(destination, pending)
    os.close(read_end)
