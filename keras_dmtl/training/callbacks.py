"""Callbacks of a training run: per-step history, verification sets scored every N
steps, and atomic epoch checkpoints."""

import logging
import os

import keras
import numpy as np
import tensorflow as tf

from keras_dmtl.data.records import DataError
from keras_dmtl.data.verification_bin import decode_pairs
from keras_dmtl.data.verification_bin import read_verification_bin
from keras_dmtl.evaluation.verification import cosine_scores
from keras_dmtl.evaluation.verification import evaluate_pairs
from keras_dmtl.training.checkpoint import CHECKPOINT_NAME
from keras_dmtl.training.checkpoint import save_checkpoint


class StepHistory(keras.callbacks.Callback):
    """Records the losses and task weights of every training step.

    Keras logs hold running means over the epoch; the per-step values (what the
    task-weight plots show) come from the model's `last_step` variable, named by
    its `step_value_names` (two tasks or three). They are kept in `history` and
    written to TensorBoard under "step/".

    Args:
        log_dir: TensorBoard directory, or None for no TensorBoard output.
        initial_step: global step to continue from when a run resumes.
        history: {name: [value, ...]} to continue (a resumed run's).
        names: the series to keep (the model's `step_value_names`); None: those
            of the model the callback is given.
    """

    def __init__(self, log_dir=None, initial_step=0, history=None, names=None):
        super().__init__()
        self.step = int(initial_step)
        self.history = history
        if self.history is None and names is not None:
            self.history = {name: [] for name in names}
        self._writer = tf.summary.create_file_writer(log_dir) if log_dir else None

    def set_model(self, model):
        super().set_model(model)
        if self.history is None:
            self.history = {name: [] for name in model.step_value_names}

    def on_train_batch_end(self, batch, logs=None):
        values = self.model.last_step.numpy()
        names = self.model.step_value_names
        self.step += 1
        for name, value in zip(names, values):
            self.history[name].append(float(value))
        if self._writer is not None:
            with self._writer.as_default(step=self.step):
                for name, value in zip(names, values):
                    tf.summary.scalar(f"step/{name}", value)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()


_LOG = logging.getLogger(__name__)


class VerificationBinCallback(keras.callbacks.Callback):
    """Scores insightface verification sets (lfw.bin, cfp_fp.bin, ...) during training.

    Every `every_n_steps` training steps, and after the last step, both images of
    every pair and their horizontal mirrors are embedded; as insightface reports
    it, each image's embedding is the sum of its own and its mirror's, and
    accuracy is the 10-fold protocol (`evaluation.verification.evaluate_pairs`:
    the threshold chosen on 9 folds of the set's pair order, scored on the 10th;
    mean and std over the folds). insightface searches thresholds on a 0.01 grid
    of squared distances; here every midpoint of the cosine scores is tried,
    which is the same ranking with an exact search.

    The model is a `DynamicMultiTaskModel`; only its embedding is computed. The
    sets are read and decoded when the callback is made, so a bad .bin stops a
    run before it trains. Their crops go through `preprocess_crop` as the
    training crops do (size, channels; the model rescales pixels itself).

    Args:
        bin_paths: the .bin files; each set is named by its file name ("lfw").
        every_n_steps: training steps between two evaluations.
        image_size: side of the model's input.
        channels: 1 (grayscale) or 3 (RGB), as the model's input.
        log_dir: TensorBoard folder (scalars `verification/<set>/accuracy` and
            `.../auc`), or None.
        initial_step: global step to continue from when a run resumes.
        history: {set name: [entry, ...]} to continue (a resumed run's).
        batch_size: inference batch size.
        folds: folds of the accuracy protocol.

    Attributes:
        history: {set name: [entry, ...]}; an entry is {"step": ...} plus the
            metrics of `evaluate_pairs` (accuracy, accuracy_std, auc, eer, TAR).

    Raises:
        DataError: a .bin that cannot be read (see `read_verification_bin`), two
            sets of one name, or a set with too few pairs for the folds.
    """

    def __init__(self, bin_paths, every_n_steps, image_size, channels, log_dir=None,
                 initial_step=0, history=None, batch_size=64, folds=10):
        super().__init__()
        self.every_n_steps = int(every_n_steps)
        self.step = int(initial_step)
        self.batch_size = int(batch_size)
        self.folds = int(folds)
        self.sets = []
        for path in bin_paths:
            pairs = read_verification_bin(path)
            if any(name == pairs.name for name, _, _ in self.sets):
                raise DataError(f"--config.verification_bins: two sets are named "
                                f"{pairs.name!r} ({path}); give each .bin its own file name.")
            if len(pairs) < 2 * self.folds:
                raise DataError(f"{path}: {len(pairs)} pairs cannot fill {self.folds} folds "
                                f"of the accuracy protocol; use a set of at least "
                                f"{2 * self.folds} pairs.")
            self.sets.append((pairs.name, decode_pairs(pairs, image_size, channels),
                              pairs.is_same))
        self.history = history if history is not None else {}
        for name, _, _ in self.sets:
            self.history.setdefault(name, [])
        self._writer = tf.summary.create_file_writer(log_dir) if log_dir else None
        self._embedder = None
        self._scored_step = None

    def on_train_begin(self, logs=None):
        # The embedding alone: the identity classifier (possibly 10^5 classes) is
        # not computed for the verification images.
        network = self.model.network
        self._embedder = keras.Model(network.inputs, network.output["embedding"])

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every_n_steps == 0:
            self.evaluate()

    def on_train_end(self, logs=None):
        if self._scored_step != self.step and self._embedder is not None:
            self.evaluate()
        if self._writer is not None:
            self._writer.flush()

    def _embed(self, images):
        return self._embedder.predict(images.astype("float32"), batch_size=self.batch_size,
                                      verbose=0).astype(np.float64)

    def evaluate(self):
        """Scores every set with the model as it is now; returns {name: entry}."""
        results = {}
        for name, images, is_same in self.sets:
            embeddings = self._embed(images) + self._embed(images[:, :, ::-1])
            scores = cosine_scores(embeddings[0::2], embeddings[1::2])
            entry = {"step": self.step, **evaluate_pairs(scores, is_same, self.folds)}
            self.history[name].append(entry)
            results[name] = entry
            _LOG.info("[%s][step %d] accuracy-flip %.5f +- %.5f", name, self.step,
                      entry["accuracy"], entry["accuracy_std"])
            if self._writer is not None:
                with self._writer.as_default(step=self.step):
                    tf.summary.scalar(f"verification/{name}/accuracy", entry["accuracy"])
                    tf.summary.scalar(f"verification/{name}/auc", entry["auc"])
        self._scored_step = self.step
        return results


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (optimizer states included) after every epoch.

    The model and the training state (epochs done, step and epoch histories) go
    into one file (`keras_dmtl.training.checkpoint`), so a resumed run always finds
    a model and the state of the same epoch.

    Args:
        run_dir: the run folder.
        step_history: the run's `StepHistory`, whose series are saved alongside.
        epoch_history: dict of per-epoch logs, extended here and saved alongside.
        verification_history: the `VerificationBinCallback.history` to save
            alongside, or None.
    """

    def __init__(self, run_dir, step_history, epoch_history, verification_history=None):
        super().__init__()
        self.run_dir = run_dir
        self.step_history = step_history
        self.epoch_history = epoch_history
        self.verification_history = verification_history

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.epoch_history.setdefault(name, []).append(float(value))
        save_checkpoint(self.model, os.path.join(self.run_dir, CHECKPOINT_NAME), {
            "epochs_done": epoch + 1,
            "global_step": self.step_history.step,
            "step_history": self.step_history.history,
            "epoch_history": self.epoch_history,
            "verification_history": self.verification_history or {},
        })
