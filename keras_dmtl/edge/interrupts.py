"""Interrupts cannot skip the record of an unlock attempt.

Ctrl-C raises KeyboardInterrupt and, within `sigterm_raises`, SIGTERM raises
SystemExit, so that the `finally` that records an attempt runs; while the record is
written (`deferred_interrupts`) both wait, so that a second signal cannot cut it short.
"""

import contextlib
import signal

_INTERRUPTS = {signal.SIGINT, signal.SIGTERM}


def _raise_exit(signum, frame):
    del frame
    raise SystemExit(128 + signum)  # the status a shell reports for a killed process


@contextlib.contextmanager
def sigterm_raises():
    """Within the block, SIGTERM raises SystemExit(143): the process still ends, but its
    `finally` blocks run first (call from the main thread)."""
    previous = signal.signal(signal.SIGTERM, _raise_exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def deferred_interrupts():
    """Holds SIGINT and SIGTERM until the block ends; they are delivered then.

    POSIX only (`signal.pthread_sigmask`); elsewhere the block runs unprotected.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
