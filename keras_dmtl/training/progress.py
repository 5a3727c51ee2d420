"""How a run reports its epochs: Keras' progress bar on a terminal, a line each elsewhere.

A progress bar is redrawn after every step. In a file (nohup, CI, a cluster
job's log, a notebook's saved output) every redraw stays: the default 20-epoch
run wrote 190 KB of them. Off a terminal a run prints one line per epoch instead,
every figure of Keras' epoch logs in about two thirds of the characters of
Keras' own `verbose=2` line (4 significant digits, no "0.0000e+00").
"""

import sys
import time

import keras


class EpochLine(keras.callbacks.Callback):
    """Prints one line at the end of every epoch: its number, its time, its logs.

    Args:
        epochs: the run's number of epochs (the "/N" of "Epoch n/N").
        stream: where to print; default `sys.stdout` at print time.
    """

    def __init__(self, epochs, stream=None):
        super().__init__()
        self.epochs = epochs
        self.stream = stream
        self._started = None

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._started if self._started is not None else 0.0
        figures = ", ".join(f"{name} {float(value):.4g}"
                            for name, value in sorted((logs or {}).items()))
        print(f"Epoch {epoch + 1}/{self.epochs} ({seconds:.1f} s): {figures}",
              file=self.stream or sys.stdout, flush=True)


def progress_reporting(verbose, epochs, stream=None):
    """How `fit` reports progress for `config.verbose`.

    Args:
        verbose: 0 nothing, 1 a progress bar (a line per epoch when `stream` is
            not a terminal), 2 a line per epoch.
        epochs: the run's number of epochs.
        stream: where the report goes; default `sys.stdout`.

    Returns:
        (the `verbose` to give `fit`, the callbacks to add: an `EpochLine` or none).
    """
    stream = sys.stdout if stream is None else stream
    on_terminal = getattr(stream, "isatty", lambda: False)()
    if verbose == 0:
        return 0, []
    if verbose == 1 and on_terminal:
        return 1, []
    return 0, [EpochLine(epochs, stream)]
