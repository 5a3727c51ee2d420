"""The interface every task-weighting strategy implements."""

import collections

import keras

WeightedLoss = collections.namedtuple("WeightedLoss", ["weights", "total", "unit_loss"])
WeightedLoss.__doc__ = """What a strategy makes of the task losses.

Attributes:
    weights: float32 (T,) the task weights applied in this step (logged as w_i).
    total: float32 scalar, the loss that trains the trunk and the branches (and
        the strategy's own trainable variables, if any).
    unit_loss: float32 scalar that trains the dynamic-weight-unit alone, or None
        when the strategy does not train the unit.
"""


class Weighting(keras.layers.Layer):
    """Turns per-task losses into the losses that train the network.

    A strategy sees only what it is handed: the task losses of the step and the
    batch-mean output of the dynamic-weight-unit. It may own variables (e.g. the
    log-variances of uncertainty weighting; trainable ones are trained with the
    total loss by the main optimizer) and per-step state updated in
    `update_state`. It holds no reference to the model.

    Subclasses set the class attributes below and implement `combine`; registering
    one with `keras_dmtl.weighting.register` in a new module under
    `keras_dmtl/weighting/` makes it available by name.

    Attributes:
        uses_weight_unit: True when the weight unit's output weights the losses.
            When False the unit is still part of the network (its output is
            exported) but is never trained.
        trunk_learns_through_weights: True when the total loss should reach the
            shared trunk through w (the authors' code routing); the model then
            builds the weight unit without stopping the gradient at its input.
        needs_shared_gradient_norms: True when `update_state` needs the norm of
            each task loss's gradient on the last shared layer (GradNorm); the
            model then computes them and passes `shared_gradient_norms`.
    """

    uses_weight_unit = False
    trunk_learns_through_weights = False
    needs_shared_gradient_norms = False

    def __init__(self, num_tasks=2, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_tasks = int(num_tasks)

    def combine(self, task_losses, unit_weights):
        """Combines the task losses of one step.

        Args:
            task_losses: float32 (T,) loss of each task on the global batch.
            unit_weights: float32 (T,) batch-mean output of the weight unit.

        Returns:
            A `WeightedLoss`.
        """
        raise NotImplementedError

    def update_state(self, task_losses, shared_gradient_norms=None):
        """Called once after every training step with the step's task losses.

        Strategies whose weights depend on the loss history (e.g. DWA) update
        their state here. The default keeps no state.

        Args:
            task_losses: float32 (T,) constant task losses of the step.
            shared_gradient_norms: float32 (T,) norms of each task loss's gradient
                on the last shared layer; given only to strategies that set
                `needs_shared_gradient_norms`.
        """
        del task_losses, shared_gradient_norms

    def set_steps_per_epoch(self, steps):
        """Tells the strategy how many steps an epoch has, before the model is built.

        Strategies never see epochs; those whose paper averages over epochs
        (DWA) use this as their window. The default ignores it.

        Args:
            steps: training steps per epoch.
        """
        del steps

    @classmethod
    def comparison_variants(cls):
        """The methods this strategy adds to the comparison runner.

        Returns:
            A list of (label, constructor kwargs); by default the strategy under
            its registered name with its default arguments. A strategy with a
            family of settings (static weights) returns one entry per setting.
        """
        return [(cls.strategy_name, {})]

    def call(self, task_losses, unit_weights):
        return self.combine(task_losses, unit_weights)

    def get_config(self):
        config = super().get_config()
        config["num_tasks"] = self.num_tasks
        return config
