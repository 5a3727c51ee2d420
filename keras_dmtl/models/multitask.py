"""The dynamic multi-task model: one GradientTape, two optimizers, one step."""

import keras
import numpy as np
import tensorflow as tf

from keras_dmtl import weighting as weighting_lib
from keras_dmtl.losses import CenterLoss
from keras_dmtl.losses import action_unit_task_loss
from keras_dmtl.losses import cross_replica_sum
from keras_dmtl.losses import label_mask
from keras_dmtl.losses import masked_soft_macro_f1_loss
from keras_dmtl.losses import embedding_target_loss
from keras_dmtl.losses import masked_mean
from keras_dmtl.losses import masked_sparse_cross_entropy
from keras_dmtl.losses import soft_label_expression_loss
from keras_dmtl.losses import sparse_cross_entropy
from keras_dmtl.losses import with_label_distributions
from keras_dmtl.losses.masked import EXPRESSION_VOTES
from keras_dmtl.losses.distillation import TEACHER_EMBEDDING
from keras_dmtl.losses.distillation import TEACHER_EXPRESSION
from keras_dmtl.models import quantization
from keras_dmtl.models.heads import ACTION_UNIT_LOGITS
from keras_dmtl.models.heads import IDENTITY_HEAD_NAME
from keras_dmtl.models.network import WEIGHT_UNIT_NAME
from keras_dmtl.models.network import build_network

# The tasks of the two-task model (the paper's), and its per-step values kept in
# `last_step` for plots and TensorBoard, in this order. A model with an action-unit
# head has three tasks: see `task_names` and `step_value_names`.
TASK_NAMES = ("face", "expression")
ACTION_UNIT_TASK = "action_units"
# An embedding teacher's loss as a task of its own (distillation["embedding_task"]).
DISTILLATION_TASK = "distillation"
_TASK_LOSS_NAMES = {"face": "face_loss", "expression": "expression_loss",
                    ACTION_UNIT_TASK: "action_unit_loss", DISTILLATION_TASK: "distillation_loss"}


def step_value_names(task_names):
    """The per-step values of a model with `task_names`, in `last_step`'s order:
    the total loss, each task's loss, the weight unit's loss, each task's weight."""
    return ("loss", *(_TASK_LOSS_NAMES[task] for task in task_names), "weight_loss",
            *(f"w_{task}" for task in task_names))


STEP_VALUE_NAMES = step_value_names(TASK_NAMES)


def task_names(action_units=False, distillation_task=False):
    """The tasks of a model, in the order its weight unit and strategy weigh them:
    face, expression, then the AU task and the embedding teacher's, when present."""
    return (TASK_NAMES + ((ACTION_UNIT_TASK,) if action_units else ())
            + ((DISTILLATION_TASK,) if distillation_task else ()))


def spans_workers(strategy):
    """Whether `strategy` all-reduces across processes (a MultiWorkerMirroredStrategy
    cluster of more than one worker), where Keras reduces step outputs its own way.

    Args:
        strategy: a `tf.distribute.Strategy`.

    Returns:
        True when replicas live in more than one process.
    """
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.num_replicas_in_sync > len(strategy.extended.worker_devices))


@keras.saving.register_keras_serializable(package="keras_dmtl")
class DynamicMultiTaskModel(keras.Model):
    """Face recognition + facial expression (+ optionally facial action units) with
    dynamically weighted task losses.

    `train_step` computes the face loss L1 = CE(identity) + alpha * center loss and
    the expression loss L2 = CE(expression) (+ lambda * (1 - soft macro-F1) when
    `expression_f1_weight` is set), each over the samples that carry that
    label (label -1 = absent), and hands them to the weighting strategy with the
    batch mean of the weight unit's output w. Under one GradientTape:

    - the strategy's total loss trains the trunk, both branches and the
      strategy's own variables through `optimizer`;
    - its unit loss (L3 = sum_i w_i / L_i for "dynamic") trains the weight unit
      alone through `weight_optimizer`, with its own learning rate.

    Losses are exact over the global batch under tf.distribute (per-replica sums
    are all-reduced and the gradient is scaled by the replica count), also across
    machines under `tf.distribute.MultiWorkerMirroredStrategy` (see
    `_maybe_symbolic_build` and `spans_workers` for the two Keras 3 gaps this
    model closes there), and the mixed_float16 policy gets loss scaling on both
    optimizers.

    Args:
        num_identities: identity classes (from the data).
        num_expressions: expression classes (from the data).
        backbone: trunk name (see `keras_dmtl.models.backbones.available()`).
        input_shape: (H, W, C) of the raw 0..255 input images.
        backbone_width: trunk width multiplier.
        embedding_dim: size of the face embedding.
        expression_dim: size of the expression bottleneck.
        expression_dropout: dropout rate in the expression branch.
        weighting: strategy name (see `keras_dmtl.weighting.available()`), config
            dict or `Weighting` instance.
        center_loss_alpha: weight of the center loss inside L1 (0.1 in the
            authors' code).
        center_loss_beta: center update rate.
        weight_unit_options: extra `DynamicWeightUnit` arguments
            (`normalize_inputs`, `logit_scale`).
        identity_head: the identity head (`keras_dmtl.models.identity_heads`):
            "softmax" (the paper's), "cosface" or "arcface". Margin heads add
            their margin to the logits the identity loss sees.
        identity_head_kwargs: the head's arguments (e.g. scale, margin).
        expression_label_smoothing: label smoothing of the expression
            cross-entropy.
        expression_f1_weight: lambda, the weight of the soft macro-F1 loss
            (`keras_dmtl.losses.soft_f1`) added to the expression loss; 0 = plain
            cross-entropy, as in the paper.
        frozen_batchnorm: names of BatchNormalization layers kept in inference
            mode for good (see `freeze_batchnorm`).
        distillation: None, or the teacher soft labels' settings
            {"temperature": T, "mix": m, "embedding_weight": g, "embedding_loss":
            "cosine" (default) or "pairwise", "embedding_task": False (default)
            or True} (`keras_dmtl.losses.distillation`). Batches whose labels
            carry "teacher_expression_logits" (B, K) and "teacher_embedding"
            (B, D) then train on them: L2 becomes the soft-label expression loss
            (the teacher alone where the expression is missing, mixed by m where
            it is present) and g * the embedding-distillation loss is added to
            L1, or, with "embedding_task", is a task of its own (the last,
            "distillation"), which the weight unit and the strategy weigh like
            the others; every batch must then carry "teacher_embedding".
        action_units: None (two tasks, the paper's model), or the third task's
            settings {"names": AU labels ("AU12"), "relatedness": (E, A)
            P(AU | expression) in the model's label order, "matching_weight": w,
            "reverse_weight": r}. The network then has an AU head (output
            "action_unit_logits"), the weight unit and the strategy weigh three
            tasks, and batches must carry labels["action_units"] (B, A), 1 / 0,
            -1 where not annotated. L_AU = the binary cross-entropy over the
            annotated AUs + w * the distribution matching (the expression head's
            implied AUs against the AU head) + r * its reverse, the matching on
            samples that lack either label (`losses.action_unit_task_loss`).
        quantization_aware: whether the network simulates int8 TFLite in its
            forward pass (`keras_dmtl.models.quantization`): quantisation-aware
            fine-tuning of a trained model. Export strips it
            (`keras_dmtl.models.quantization.strip_quantization`).

    Example:

    >>> model = DynamicMultiTaskModel(num_identities=4, num_expressions=3,
    ...                               input_shape=(32, 32, 1))
    >>> model.compile(optimizer="adam")
    >>> images = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 1)).astype("float32")
    >>> labels = {"identity": np.arange(8) % 4,
    ...           "expression": np.array([0, 1, 2, -1] * 2)}  # -1: no label
    >>> logs = model.train_on_batch(images, labels, return_dict=True)
    >>> round(float(logs["w_face"] + logs["w_expression"]), 4)  # w is a softmax
    1.0
    """

    def __init__(
        self,
        num_identities,
        num_expressions,
        backbone="tiny",
        input_shape=(64, 64, 1),
        backbone_width=1.0,
        embedding_dim=128,
        expression_dim=128,
        expression_dropout=0.0,
        weighting="dynamic",
        center_loss_alpha=0.1,
        center_loss_beta=0.5,
        weight_unit_options=None,
        identity_head="softmax",
        identity_head_kwargs=None,
        expression_label_smoothing=0.0,
        expression_f1_weight=0.0,
        frozen_batchnorm=(),
        distillation=None,
        action_units=None,
        quantization_aware=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.action_units = _action_unit_settings(action_units, num_expressions)
        self.distillation = dict(distillation) if distillation else None
        self.task_names = task_names(bool(self.action_units), self.distillation_task)
        self.step_value_names = step_value_names(self.task_names)
        tasks = len(self.task_names)
        # A name is built for this model's tasks; a given strategy must fit them.
        self.weighting = (weighting_lib.get(weighting, num_tasks=tasks)
                          if isinstance(weighting, str) else weighting_lib.get(weighting))
        if self.weighting.num_tasks != tasks:
            raise ValueError(
                f"--config.weighting: the {type(self.weighting).__name__} strategy weighs "
                f"{self.weighting.num_tasks} tasks, the model has {tasks} "
                f"({', '.join(self.task_names)}); make it with num_tasks={tasks}.")
        if not self.weighting.built:
            # A deserialized strategy arrives built (its build_config restores its
            # state variables); building it again would add a second set.
            self.weighting.build((tasks,))
        self.architecture = dict(
            num_identities=int(num_identities),
            num_expressions=int(num_expressions),
            backbone=backbone,
            input_shape=tuple(int(d) for d in input_shape),
            backbone_width=float(backbone_width),
            embedding_dim=int(embedding_dim),
            expression_dim=int(expression_dim),
            expression_dropout=float(expression_dropout),
            weight_unit_options=dict(weight_unit_options or {}),
            identity_head=str(identity_head),
            identity_head_kwargs=dict(identity_head_kwargs or {}),
        )
        unit_options = dict(self.architecture["weight_unit_options"])
        unit_options["stop_input_gradient"] = not self.weighting.trunk_learns_through_weights
        network = build_network(**{**self.architecture, "weight_unit_options": unit_options},
                                num_action_units=len(self.action_unit_names), num_tasks=tasks)
        self.quantization_aware = bool(quantization_aware)
        if self.quantization_aware:
            # The identity head and the weight unit are never exported: not rounded.
            network = quantization.quantization_aware_network(
                network, skip=(IDENTITY_HEAD_NAME, WEIGHT_UNIT_NAME))
        self.network = network
        self._relatedness = (None if not self.action_units else
                             np.asarray(self.action_units["relatedness"], np.float32))
        self.frozen_batchnorm = ()
        self.freeze_batchnorm(frozen_batchnorm)
        self.center_loss_alpha = float(center_loss_alpha)
        self.expression_label_smoothing = float(expression_label_smoothing)
        self.expression_f1_weight = float(expression_f1_weight)
        self.center_loss = CenterLoss(
            num_identities, embedding_dim, beta=center_loss_beta, name="center_loss"
        )
        self.last_step = self.add_weight(
            name="last_step",
            shape=(len(self.step_value_names),),
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
        )
        self._loss_trackers = {
            name: keras.metrics.Mean(name=name) for name in self.step_value_names
        }
        self._accuracy_trackers = {
            task: keras.metrics.SparseCategoricalAccuracy(name=f"{label}_accuracy")
            for task, label in (("identity", "identity"), ("expression", "expression"))
        }
        self.weight_optimizer = None
        self.built = True

    # ----------------------------------------------------------------- forward

    def call(self, images, training=False):
        return self.network(images, training=training)

    @property
    def trunk(self):
        """The shared trunk: a functional model named after its backbone."""
        return self.network.get_layer(self.architecture["backbone"])

    @property
    def identity_head(self):
        """The face branch's identity head layer."""
        return self.network.get_layer(IDENTITY_HEAD_NAME)

    @property
    def distillation_task(self):
        """Whether the embedding teacher's loss is a task of its own."""
        return bool(self.distillation and self.distillation.get("embedding_task"))

    @property
    def action_unit_names(self):
        """The AU labels of the AU head, in its output order; empty without one."""
        return list(self.action_units["names"]) if self.action_units else []

    @property
    def weight_unit(self):
        """The dynamic-weight-unit layer."""
        return self.network.get_layer(WEIGHT_UNIT_NAME)

    def batch_norm_layers(self, within=None):
        """The network's BatchNormalization layers, nested ones included.

        Args:
            within: names of network layers; only BatchNorm layers that are, or
                are inside, one of them. None: all.
        """
        found = [leaf for layer in self.network.layers
                 if within is None or layer.name in set(within)
                 for leaf in quantization.leaf_layers(layer).values()
                 if isinstance(leaf, keras.layers.BatchNormalization)]
        return sorted(found, key=lambda layer: layer.name)

    def freeze_batchnorm(self, names):
        """Keeps the BatchNorm layers `names` in inference mode for good: their
        moving statistics, scale and offset no longer train (`trainable=False`).

        Part of the model's config, so a saved model loads frozen and its
        optimizer state fits. Call before `compile`, which picks the trainable
        variables.

        Args:
            names: BatchNormalization layer names (`batch_norm_layers`).

        Raises:
            ValueError: a name that is not a BatchNorm layer of the network.
        """
        layers = {layer.name: layer for layer in self.batch_norm_layers()}
        unknown = sorted(set(names) - set(layers))
        if unknown:
            raise ValueError(f"No BatchNormalization layers named {unknown} in the network.")
        for name in names:
            layers[name].trainable = False
        self.frozen_batchnorm = tuple(sorted(set(self.frozen_batchnorm) | set(names)))

    def weight_unit_variables(self):
        """Trainable variables updated by the unit loss only."""
        return list(self.weight_unit.trainable_variables)

    def last_shared_variables(self):
        """Trainable variables of the trunk's last layer that has a kernel (GradNorm's W)."""
        trunk = self.network.get_layer(index=1)
        for layer in reversed(trunk.layers):
            if getattr(layer, "kernel", None) is not None:
                return list(layer.trainable_variables)
        raise ValueError(f"The trunk {trunk.name} has no layer with a kernel.")

    def main_variables(self):
        """Trainable variables updated by the total loss: everything but the unit."""
        unit_ids = {id(v) for v in self.weight_unit_variables()}
        return [v for v in self.trainable_variables if id(v) not in unit_ids]

    # ----------------------------------------------------------------- compile

    def compile(self, optimizer="adam", weight_optimizer=None, **kwargs):
        """Configures both optimizers.

        Args:
            optimizer: trains the trunk and branches (and strategy variables).
            weight_optimizer: trains the weight unit; default SGD(0.01). Its
                learning rate sets how fast w can move (docs/method.md, section 4).
            **kwargs: passed to `keras.Model.compile` (e.g. `jit_compile`,
                `steps_per_execution`). `loss` and `metrics` are built in.
        """
        super().compile(optimizer=optimizer, **kwargs)
        weight_optimizer = keras.optimizers.get(
            weight_optimizer if weight_optimizer is not None else keras.optimizers.SGD(0.01)
        )
        if self.dtype_policy.name == "mixed_float16" and not isinstance(
            weight_optimizer, keras.optimizers.LossScaleOptimizer
        ):
            weight_optimizer = keras.optimizers.LossScaleOptimizer(
                weight_optimizer, name="weight_loss_scale_optimizer"
            )
        self.weight_optimizer = weight_optimizer
        # Build both now, each on its own variables, so that no optimizer variable
        # is created inside a traced (possibly XLA-compiled) step.
        self.optimizer.build(self.main_variables())
        self.weight_optimizer.build(self.weight_unit_variables())

    def get_compile_config(self):
        config = super().get_compile_config() or {}
        if self.weight_optimizer is not None:
            config["weight_optimizer"] = keras.optimizers.serialize(self.weight_optimizer)
        return config

    def compile_from_config(self, config):
        config = dict(config)
        weight_optimizer = config.pop("weight_optimizer", None)
        optimizer = keras.optimizers.deserialize(config.pop("optimizer", "adam"))
        if weight_optimizer is not None:
            weight_optimizer = keras.optimizers.deserialize(weight_optimizer)
        for unused in ("loss", "loss_weights", "metrics", "weighted_metrics"):
            config.pop(unused, None)
        self.compile(optimizer=optimizer, weight_optimizer=weight_optimizer, **config)

    @property
    def metrics(self):
        return list(self._loss_trackers.values()) + list(self._accuracy_trackers.values())

    # ------------------------------------------------------------------ losses

    def compute_task_losses(self, outputs, labels):
        """Returns (task losses (T,) in `task_names` order, center loss) on the
        global batch.

        Args:
            outputs: the network's output dict.
            labels: dict with int "identity" and "expression" (B,), -1 = absent;
                with an AU head also "action_units" (B, A), -1 = not annotated.

        Raises:
            ValueError: a model with an AU head given batches without AU labels.
        """
        # Margin heads (ArcFace, CosFace) make the true class harder in the loss only.
        identity_logits = self.identity_head.training_logits(outputs["identity_logits"],
                                                             labels["identity"])
        identity_ce = masked_sparse_cross_entropy(labels["identity"], identity_logits)
        center = self.center_loss(outputs["embedding"], labels["identity"])
        face_loss = identity_ce + self.center_loss_alpha * center
        hard_expression = sparse_cross_entropy(
            labels["expression"], outputs["expression_logits"],
            label_smoothing=self.expression_label_smoothing)
        if EXPRESSION_VOTES in labels:
            hard_expression = with_label_distributions(
                hard_expression, labels[EXPRESSION_VOTES], outputs["expression_logits"])
        settings = self.distillation or {}
        if settings and TEACHER_EXPRESSION in labels:
            expression_loss = soft_label_expression_loss(
                labels["expression"], outputs["expression_logits"], labels[TEACHER_EXPRESSION],
                settings["temperature"], settings["mix"], hard_expression)
        else:
            expression_loss = masked_mean(hard_expression, label_mask(labels["expression"]))
        distillation_loss = None
        if self.distillation_task:
            if TEACHER_EMBEDDING not in labels:
                raise ValueError(
                    "The model learns the embedding teacher as a task of its own "
                    "(--config.teacher.embedding_task=True), but the batches carry no "
                    f"labels['{TEACHER_EMBEDDING}']: set --config.teacher.embeddings.")
            distillation_loss = settings["embedding_weight"] * self._embedding_target(
                outputs, labels)
        elif settings.get("embedding_weight") and TEACHER_EMBEDDING in labels:
            face_loss += settings["embedding_weight"] * self._embedding_target(outputs, labels)
        if self.expression_f1_weight:
            expression_loss += self.expression_f1_weight * masked_soft_macro_f1_loss(
                labels["expression"], outputs["expression_logits"])
        losses = [face_loss, expression_loss]
        if self.action_units:
            losses.append(self._action_unit_loss(outputs, labels))
        if distillation_loss is not None:
            losses.append(distillation_loss)
        return tf.stack(losses), center

    def _embedding_target(self, outputs, labels):
        """The embedding-distillation loss of the batch (unweighted)."""
        settings = self.distillation
        return embedding_target_loss(settings.get("embedding_loss", "cosine"),
                                     labels["identity"], outputs["embedding"],
                                     labels[TEACHER_EMBEDDING], settings["mix"])

    def _action_unit_loss(self, outputs, labels):
        """The AU task's loss (`losses.action_unit_task_loss`).

        Raises:
            ValueError: batches without AU labels.
        """
        if ACTION_UNIT_TASK not in labels:
            raise ValueError(
                "The model has an action-unit head (--config.action_units.enabled=True), "
                "but the batches carry no labels['action_units']: make the datasets with "
                "action_units=True (keras_dmtl.data.pipeline, keras_dmtl.data.shards.streaming).")
        return action_unit_task_loss(
            labels[ACTION_UNIT_TASK], labels["expression"], outputs[ACTION_UNIT_LOGITS],
            outputs["expression_logits"], tf.constant(self._relatedness),
            self.action_units["matching_weight"], self.action_units["reverse_weight"])

    @staticmethod
    def batch_mean_weights(per_sample_weights):
        """Mean of the per-sample task weights over the global batch."""
        per_sample_weights = tf.cast(per_sample_weights, tf.float32)
        total = cross_replica_sum(tf.reduce_sum(per_sample_weights, axis=0))
        count = cross_replica_sum(tf.cast(tf.shape(per_sample_weights)[0], tf.float32))
        return total / count

    def _forward_losses(self, images, labels, training):
        outputs = self(images, training=training)
        task_losses, _ = self.compute_task_losses(outputs, labels)
        unit_weights = self.batch_mean_weights(outputs["task_weights"])
        combined = self.weighting.combine(task_losses, unit_weights)
        return outputs, task_losses, combined

    # -------------------------------------------------------------------- steps

    def train_step(self, data):
        images, labels = data[0], data[1]
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        unit_trained = self.weighting.uses_weight_unit
        wants_norms = self.weighting.needs_shared_gradient_norms
        shared_norms = None
        with tf.GradientTape(persistent=unit_trained or wants_norms) as tape:
            outputs, task_losses, combined = self._forward_losses(images, labels, True)
            # Each task's loss as its own tensor, recorded on the tape for GradNorm.
            per_task_losses = tf.unstack(task_losses) if wants_norms else None
            # Each replica's gradient is summed by the optimizer; the all-reduced
            # losses already cover the global batch, hence the division.
            main_loss = self.optimizer.scale_loss(combined.total / replicas)
            if unit_trained:
                unit_loss = self.weight_optimizer.scale_loss(combined.unit_loss / replicas)
        if wants_norms:
            # Outside the tape's context: inside it, these gradients would be
            # recorded too (second-order bookkeeping nobody uses).
            shared_norms = self._shared_gradient_norms(tape, per_task_losses, replicas)
        self._apply(self.optimizer, tape.gradient(main_loss, self.main_variables()),
                    self.main_variables())
        if unit_trained:
            unit_variables = self.weight_unit_variables()
            self._apply(self.weight_optimizer, tape.gradient(unit_loss, unit_variables),
                        unit_variables)
        del tape
        self.center_loss.update_centers(outputs["embedding"], labels["identity"])
        self.weighting.update_state(tf.stop_gradient(task_losses),
                                    shared_gradient_norms=shared_norms)
        return self._update_metrics(outputs, labels, task_losses, combined, record_step=True)

    def test_step(self, data):
        images, labels = data[0], data[1]
        outputs, task_losses, combined = self._forward_losses(images, labels, False)
        return self._update_metrics(outputs, labels, task_losses, combined, record_step=False)

    def _shared_gradient_norms(self, tape, per_task_losses, replicas):
        """Norm of each task loss's gradient on the last shared layer, global batch.

        Args:
            tape: the step's persistent tape, its context exited.
            per_task_losses: the task losses as separate tensors made inside the
                tape's context (an unstack outside it would not be recorded).
            replicas: replicas in sync.
        """
        shared = self.last_shared_variables()
        norms = []
        for task_loss in per_task_losses:
            # Each replica holds its share of the gradient; the sum is the global one.
            gradients = [cross_replica_sum(g) / replicas
                         for g in tape.gradient(task_loss, shared)]
            norms.append(tf.linalg.global_norm(gradients))
        return tf.stop_gradient(tf.stack(norms))

    @staticmethod
    def _apply(optimizer, gradients, variables):
        pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
        if pairs:
            optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])

    def _update_metrics(self, outputs, labels, task_losses, combined, record_step):
        unit_loss = combined.unit_loss if combined.unit_loss is not None else 0.0
        tasks = range(len(self.task_names))
        values = tf.stack(
            [
                tf.cast(combined.total, tf.float32),
                *(task_losses[i] for i in tasks),
                tf.cast(unit_loss, tf.float32),
                *(combined.weights[i] for i in tasks),
            ]
        )
        values = tf.stop_gradient(values)
        if record_step:
            self.last_step.assign(values)
        for index, name in enumerate(self.step_value_names):
            self._loss_trackers[name].update_state(values[index])
        for task, tracker in self._accuracy_trackers.items():
            task_labels = labels[task]
            tracker.update_state(
                tf.maximum(task_labels, 0),
                outputs[f"{task}_logits"],
                sample_weight=label_mask(task_labels),
            )
        logs = {metric.name: metric.result() for metric in self.metrics}
        if spans_workers(tf.distribute.get_strategy()):
            # Keras 3.15 reduces step outputs across workers with
            # strategy.reduce("MEAN", value, axis=0), which fails on a scalar
            # ("Invalid reduction dimension 0 for input with 0 dimensions",
            # keras-team/keras#20585, tensorflow/tensorflow#72388). Each value as a
            # vector of one reduces to the mean over replicas, a scalar again.
            logs = {name: tf.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Skips Keras' symbolic build: this model is built by `__init__` and
        `compile` (variables, both optimizers, metrics), so it has nothing to do.

        Under MultiWorkerMirroredStrategy, Keras 3.15 (keras/src/backend/
        tensorflow/trainer.py) first reduces the first distributed batch with
        strategy.reduce("MEAN", (images, labels)), which fails on the tuple
        ("Attempt to convert a value (PerReplica...) to a Tensor",
        keras-team/keras#20585) before it looks whether anything needs building.
        """
        if not (self.built and self.optimizer is not None and self.optimizer.built):
            super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    # ----------------------------------------------------------- serialization

    def get_config(self):
        config = super().get_config()
        config.update(self.architecture)
        config.update(
            weighting=keras.saving.serialize_keras_object(self.weighting),
            center_loss_alpha=self.center_loss_alpha,
            center_loss_beta=self.center_loss.beta,
            expression_label_smoothing=self.expression_label_smoothing,
            expression_f1_weight=self.expression_f1_weight,
            frozen_batchnorm=list(self.frozen_batchnorm),
            distillation=self.distillation,
            quantization_aware=self.quantization_aware,
        )
        if self.action_units:  # absent for two tasks: their config is as it always was
            config["action_units"] = {
                "names": self.action_unit_names, "relatedness": self._relatedness.tolist(),
                "matching_weight": float(self.action_units["matching_weight"]),
                "reverse_weight": float(self.action_units["reverse_weight"])}
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["weighting"] = weighting_lib.get(config["weighting"])
        return cls(**config)


def _action_unit_settings(settings, num_expressions):
    """The AU task's settings checked and in JSON form, or None (no AU task).

    Raises:
        ValueError: names missing or repeated, a relatedness matrix of another
            shape than (num_expressions, AUs) or outside [0, 1], a negative weight.
    """
    if not settings:
        return None
    unknown = sorted(set(settings) - {"names", "relatedness", "matching_weight",
                                      "reverse_weight"})
    if unknown:
        raise ValueError(f"action_units: unknown settings {unknown}; give names, relatedness, "
                         "matching_weight and reverse_weight.")
    names = [str(name) for name in settings.get("names", ())]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"action_units.names={names}: give the AU labels, each once.")
    relatedness = np.asarray(settings.get("relatedness"), np.float64)
    if relatedness.shape != (int(num_expressions), len(names)) or not (
            np.all(relatedness >= 0) and np.all(relatedness <= 1)):
        raise ValueError(
            f"action_units.relatedness: a ({num_expressions}, {len(names)}) matrix of "
            f"probabilities P(AU | expression) is needed, got shape {relatedness.shape}.")
    weights = {key: float(settings.get(key, default))
               for key, default in (("matching_weight", 1.0), ("reverse_weight", 0.0))}
    for key, value in weights.items():
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"--config.action_units.{key}={value}: give a number >= 0.")
    return {"names": names, "relatedness": relatedness.tolist(), **weights}
