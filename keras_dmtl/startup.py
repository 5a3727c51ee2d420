"""Quiet command lines: TensorFlow's start-up lines filtered out, a log a person can read.

TensorFlow's C++ core logs a dozen lines on import (CUDA stubs on a machine
without a GPU, CPU instruction sets, oneDNN) before absl logging is initialised,
so `TF_CPP_MIN_LOG_LEVEL` does not reach them. A command that calls
`quiet_native_startup()` before it imports TensorFlow routes the process's
stderr (file descriptor 2) through a filter that drops exactly those lines and
passes everything else through at once (warnings, errors, tracebacks, progress
bars).

Once its flags are parsed, a command calls `quiet_logs()`: each warning is then
logged once per run, and the libraries' INFO narration (TensorFlow's SavedModel
writer, tf2onnx, the TFLite converter's and LiteRT's native lines) is shown only
with absl's `--verbosity=1` (or more).

TF-free; the library never calls either, only the command-line entry points.
"""

import atexit
import importlib.util
import logging
import os
import re
import select
import sys
import threading

from absl import logging as absl_logging

# The start-up lines, and nothing a user needs: each names its C++ source file
# or is the fixed text TensorFlow prints around them.
NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IWE]\d{4} [\d:. ]+\d+ (cudart_stub|cuda_platform|cuda_executor|cuda_dnn|cuda_fft"
    rb"|cuda_blas|cpu_feature_guard|computation_placer|port)\.cc:\d+\]"
    rb"|To enable the following instructions:"
    rb"|oneDNN custom operations are on)")
# Native lines that narrate a conversion or an interpreter's set-up: shown only
# from --verbosity=1 on (`quiet_logs`).
NATIVE_CHATTER = re.compile(
    rb"^(fully_quantize: \d+, inference_type: \d+"
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.)")
# Packages whose INFO records narrate their internals (SavedModel signatures and
# fingerprints, tf2onnx's opset and optimizer passes). TensorFlow logs through
# absl's logger, so a record is told apart by the file that logged it.
CHATTY_PACKAGES = ("tensorflow", "tf2onnx")
# A partial line is held back (to see whether it is noise) only this long.
_HOLD_SECONDS = 0.1
_installed = False
_native_chatter_shown = False


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
        kept = b"".join(line + b"\n" for line in lines if _kept(line))
        if kept:
            os.write(destination, kept)
    if pending and _kept(pending):
        os.write(destination, pending)
    os.close(read_end)


def _kept(line):
    if NOISE.match(line):
        return False
    return _native_chatter_shown or not NATIVE_CHATTER.match(line)


def _package_dirs(names):
    """The folders of the installed packages `names` (none imported), each ending
    in a separator."""
    dirs = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            dirs += [os.path.join(folder, "") for folder in spec.submodule_search_locations]
    return tuple(dirs)


class ReadableLog(logging.Filter):
    """Drops what makes a log longer but no more informative.

    - A warning whose text was already logged: a run logs some once per pass of
      a loop (the export calibrates a threshold per format, and each says the
      same pairs cannot back the target); the first says it all.
    - INFO and DEBUG records logged by `CHATTY_PACKAGES`, unless `show_chatter`.

    Errors, and everything of ours, always pass.

    Args:
        show_chatter: whether the chatty packages' INFO records pass.
    """

    def __init__(self, show_chatter=False):
        super().__init__()
        self.show_chatter = show_chatter
        self._chatty_dirs = _package_dirs(CHATTY_PACKAGES)
        self._warnings_seen = set()

    def filter(self, record):
        if record.levelno < logging.WARNING:
            return self.show_chatter or not record.pathname.startswith(self._chatty_dirs)
        if record.levelno == logging.WARNING:
            key = (record.name, record.getMessage())
            if key in self._warnings_seen:
                return False
            self._warnings_seen.add(key)
        return True


def quiet_logs():
    """Logs each warning once, and the libraries' INFO chatter only when asked for.

    Call it in a command's `main`, once absl has parsed the flags: with
    `--verbosity=1` (or more) the INFO records of `CHATTY_PACKAGES` and the
    native `NATIVE_CHATTER` lines are shown, by default they are not. Calling it
    again applies the current verbosity and adds no second filter.
    """
    global _native_chatter_shown
    verbose = absl_logging.get_verbosity() >= absl_logging.DEBUG
    _native_chatter_shown = verbose
    for handler in {absl_logging.get_absl_handler(), *logging.getLogger().handlers}:
        readable = [f for f in handler.filters if isinstance(f, ReadableLog)]
        if readable:
            readable[0].show_chatter = verbose
        else:
            handler.addFilter(ReadableLog(show_chatter=verbose))
