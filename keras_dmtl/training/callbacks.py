"""Callbacks of a training run: per-step history and atomic epoch checkpoints."""

import os

import keras
import tensorflow as tf

from keras_dmtl.models.multitask import STEP_VALUE_NAMES
from keras_dmtl.training.checkpoint import CHECKPOINT_NAME
from keras_dmtl.training.checkpoint import save_checkpoint


class StepHistory(keras.callbacks.Callback):
    """Records the losses and task weights of every training step.

    Keras logs hold running means over the epoch; the per-step values (what the
    task-weight plots show) come from the model's `last_step` variable. They are
    kept in `history` and written to TensorBoard under "step/".

    Args:
        log_dir: TensorBoard directory, or None for no TensorBoard output.
        initial_step: global step to continue from when a run resumes.
    """

    def __init__(self, log_dir=None, initial_step=0, history=None):
        super().__init__()
        self.step = int(initial_step)
        self.history = history if history is not None else {n: [] for n in STEP_VALUE_NAMES}
        self._writer = tf.summary.create_file_writer(log_dir) if log_dir else None

    def on_train_batch_end(self, batch, logs=None):
        values = self.model.last_step.numpy()
        self.step += 1
        for name, value in zip(STEP_VALUE_NAMES, values):
            self.history[name].append(float(value))
        if self._writer is not None:
            with self._writer.as_default(step=self.step):
                for name, value in zip(STEP_VALUE_NAMES, values):
                    tf.summary.scalar(f"step/{name}", value)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (optimizer states included) after every epoch.

    The model and the training state (epochs done, step and epoch histories) go
    into one file (`keras_dmtl.training.checkpoint`), so a resumed run always finds
    a model and the state of the same epoch.

    Args:
        run_dir: the run folder.
        step_history: the run's `StepHistory`, whose series are saved alongside.
        epoch_history: dict of per-epoch logs, extended here and saved alongside.
    """

    def __init__(self, run_dir, step_history, epoch_history):
        super().__init__()
        self.run_dir = run_dir
        self.step_history = step_history
        self.epoch_history = epoch_history

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.epoch_history.setdefault(name, []).append(float(value))
        save_checkpoint(self.model, os.path.join(self.run_dir, CHECKPOINT_NAME), {
            "epochs_done": epoch + 1,
            "global_step": self.step_history.step,
            "step_history": self.step_history.history,
            "epoch_history": self.epoch_history,
        })
