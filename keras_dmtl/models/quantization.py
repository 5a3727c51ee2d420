"""Quantisation-aware training (QAT): the network sees int8 rounding while it trains.

TFLite's int8 conversion rounds every convolution and dense kernel per output
channel (symmetric, [-127, 127]) and every activation per tensor (asymmetric,
[-128, 127] over the range seen on calibration images). Post-training, those
roundings land on weights that never saw them; here the network is cloned
with the same roundings in its forward pass (straight-through gradients), so
a short fine-tuning moves the weights to where the rounding costs least.

`tensorflow-model-optimization`'s QAT does not support Keras 3, hence this
module. What it simulates, and why it matches the converter:

- Kernels: per output channel, symmetric, narrow range. The converter folds
  each BatchNorm into the convolution before it, which scales every output
  channel by a constant; a per-channel symmetric rounding commutes with that
  scaling, so rounding the raw kernel here is exactly rounding the folded one.
- Activations: per tensor, over a range tracked as a moving min/max in
  training, at every tensor the converter keeps in int8 between kernels: after
  each ReLU, after a BatchNorm that no ReLU follows, after adds, pooling and
  the input rescaling. A convolution's output feeding its BatchNorm, and a
  BatchNorm feeding its ReLU, are fused by the converter and not rounded.

Export strips the simulation (`strip_quantization`): the fine-tuned weights go
into the plain network, and the converter calibrates the activation ranges
on training images as usual.
"""

import keras
from keras import layers
from keras import ops

# Layers whose kernel the converter rounds per output channel, with the class
# that rounds it while training.
_KERNEL_LAYERS = {}
QUANTIZER_SUFFIX = "_quant"


def fake_quantize_kernel(kernel):
    """Rounds `kernel` as TFLite int8 does: per last-axis channel, symmetric.

    Args:
        kernel: a kernel whose last axis is the output channel.

    Returns:
        The kernel after int8 rounding; its gradient passes straight through.
    """
    flat = ops.reshape(kernel, (-1, kernel.shape[-1]))
    bound = ops.maximum(ops.max(ops.abs(flat), axis=0), 1e-8)
    return keras.quantizers.fake_quant_with_min_max_vars(
        kernel, -bound, bound, num_bits=8, narrow_range=True, axis=-1)


def _registered(keras_class):
    def register(cls):
        _KERNEL_LAYERS[keras_class] = cls
        return keras.saving.register_keras_serializable(package="keras_dmtl")(cls)
    return register


@_registered(layers.Conv2D)
class QuantizeAwareConv2D(layers.Conv2D):
    """`keras.layers.Conv2D` whose kernel is int8-rounded in the forward pass."""

    @property
    def kernel(self):
        return fake_quantize_kernel(super().kernel)


@_registered(layers.Dense)
class QuantizeAwareDense(layers.Dense):
    """`keras.layers.Dense` whose kernel is int8-rounded in the forward pass."""

    @property
    def kernel(self):
        return fake_quantize_kernel(super().kernel)


@_registered(layers.DepthwiseConv2D)
class QuantizeAwareDepthwiseConv2D(layers.DepthwiseConv2D):
    """`keras.layers.DepthwiseConv2D` whose kernel is int8-rounded in the forward
    pass, per output channel (input channel x depth multiplier), as TFLite does."""

    def call(self, inputs):
        shape = ops.shape(self.kernel)
        # The output channels are the last two axes together.
        flat = ops.reshape(self.kernel, (shape[0], shape[1], -1))
        kernel = ops.reshape(fake_quantize_kernel(flat), shape)
        outputs = ops.depthwise_conv(inputs, kernel, strides=self.strides,
                                     padding=self.padding, dilation_rate=self.dilation_rate,
                                     data_format=self.data_format)
        if self.use_bias:
            outputs = ops.add(outputs, self.bias)  # channels_last: the last axis
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs


@keras.saving.register_keras_serializable(package="keras_dmtl")
class ActivationQuantizer(layers.Layer):
    """Rounds a tensor to 8 bits over the range it has seen, as int8 TFLite does.

    In training, the range is a moving min/max of the batches (the first batch
    sets it) and always includes 0; in inference the stored range is used.

    Args:
        momentum: weight of the stored range in each moving-average update.

    Example:

    >>> quantizer = ActivationQuantizer()
    >>> x = np.linspace(0.0, 2.55, 256, dtype="float32")[None]
    >>> y = quantizer(x, training=True)  # the range is now [0, 2.55]
    >>> float(np.abs(y - x).max()) < 0.01 / 2 + 1e-6  # half a step of 2.55 / 255
    True
    """

    def __init__(self, momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)

    def build(self, input_shape):
        def state(name):
            return self.add_weight(name=name, shape=(), initializer="zeros", trainable=False,
                                   autocast=False)
        self.range_min = state("range_min")
        self.range_max = state("range_max")
        self.seen = state("seen")

    def call(self, inputs, training=False):
        values = ops.cast(inputs, "float32")
        if training:
            # The first batch sets the range; later ones move it.
            keep = self.momentum * self.seen
            self.range_min.assign(keep * self.range_min + (1 - keep) * ops.min(values))
            self.range_max.assign(keep * self.range_max + (1 - keep) * ops.max(values))
            self.seen.assign(1.0)
        low = ops.minimum(self.range_min, 0.0)
        high = ops.maximum(self.range_max, low + 1e-6)
        outputs = keras.quantizers.fake_quant_with_min_max_vars(values, low, high, num_bits=8)
        # Before any range is known (an untrained quantizer) the tensor passes as it is.
        return ops.cast(ops.where(self.seen > 0, outputs, values), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["momentum"] = self.momentum
        return config


def _fused_into_next(layer):
    """Whether the converter fuses `layer`'s output into the layer after it (a
    kernel into its BatchNorm, a BatchNorm into its ReLU): no int8 tensor there."""
    consumers = [node.operation for node in layer._outbound_nodes]
    if not consumers:
        return False
    if isinstance(layer, tuple(_KERNEL_LAYERS)) and not getattr(layer, "use_bias", True):
        return all(isinstance(c, layers.BatchNormalization) for c in consumers)
    if isinstance(layer, layers.BatchNormalization):
        return all(isinstance(c, layers.ReLU) for c in consumers)
    return False


def _quantized_outputs(network, skip):
    """Names of the layers (nested ones included) after which int8 rounds."""
    return {name for name, layer in leaf_layers(network).items()
            if not (isinstance(layer, (layers.InputLayer, layers.Dropout))
                    or name in skip or _fused_into_next(layer))}


def quantization_aware_network(network, skip=()):
    """A copy of the functional `network` that simulates int8 TFLite in its
    forward pass (see the module docstring); its weights are fresh.

    Args:
        network: a functional model (nested functional models are copied too).
        skip: names of layers whose outputs are not rounded (e.g. heads that
            are never exported).

    Returns:
        The new functional model. Its layers keep their names; each rounded
        output gains an `ActivationQuantizer` named `<layer>_quant`.
    """
    rounded = _quantized_outputs(network, set(skip))

    def clone(layer):
        cls = _KERNEL_LAYERS.get(type(layer), type(layer))
        return cls.from_config(layer.get_config())

    def call(layer, *args, **kwargs):
        outputs = layer(*args, **kwargs)
        if layer.name in rounded:
            outputs = ActivationQuantizer(name=layer.name + QUANTIZER_SUFFIX)(outputs)
        return outputs

    return keras.models.clone_model(network, clone_function=clone, call_function=call,
                                    recursive=True)


def leaf_layers(layer):
    """{name: layer} of the layers inside `layer` (itself if it has none)."""
    if not isinstance(layer, keras.Model):
        return {layer.name: layer}
    found = {}
    for inner in layer.layers:
        found.update(leaf_layers(inner))
    return found


def copy_weights_by_name(source, target):
    """Copies every weighted layer of `source` into `target`'s layer of that name.

    A quantisation-aware copy has the same layers plus its quantizers, so this
    copies weights between it and the plain network either way.

    Args:
        source: a layer or functional model.
        target: a layer or functional model with (at least) the same weighted
            layer names, each of the same weight shapes.

    Raises:
        ValueError: a weighted layer of `source` that `target` lacks.
    """
    targets = leaf_layers(target)
    for name, layer in leaf_layers(source).items():
        if not layer.weights:
            continue
        if name not in targets:
            if name.endswith(QUANTIZER_SUFFIX):
                continue  # a plain target has no quantizers
            raise ValueError(f"{target.name} has no layer named {name!r} to copy into.")
        targets[name].set_weights(layer.get_weights())


def strip_quantization(model):
    """The plain model with the weights of a quantisation-aware one (for export).

    Args:
        model: a `DynamicMultiTaskModel`.

    Returns:
        `model` itself when it is not quantisation-aware; else a new model of
        the same config without the simulation, carrying its weights (network
        and centers; the weighting strategy's state is not needed to serve).
    """
    if not getattr(model, "quantization_aware", False):
        return model
    plain = type(model).from_config({**model.get_config(), "quantization_aware": False})
    copy_weights_by_name(model.network, plain.network)
    plain.center_loss.set_weights(model.center_loss.get_weights())
    return plain
