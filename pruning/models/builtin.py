"""Model registry: name -> builder of a dense (unpruned) tf_keras model.

Builders take the data's input shape and class count and the config, and
return a model with softmax outputs whose last layer is named "output"
(pruning leaves it dense unless asked).
"""
from __future__ import annotations

from pruning.lazy import LazyModule
from pruning.registry import Registry

keras = LazyModule("tf_keras")  # imported when a model is built, not for its name

MODELS = Registry("model")


def build(name: str, input_shape: tuple, num_classes: int, config):
    """A freshly initialised model; the same config.seed gives the same initial weights."""
    keras.utils.set_random_seed(config.seed)
    return MODELS.get(name)(tuple(input_shape), num_classes, config)


def image_dense_layer(model) -> tuple[str, tuple] | None:
    """(name, image shape) of a Dense layer reading the flattened input images (an MLP's
    first layer), whose kept weights map onto pixels; None for other models."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if len(layers) >= 2 and isinstance(layers[0], keras.layers.Flatten) \
            and isinstance(layers[1], keras.layers.Dense) and len(model.input_shape) == 4:
        return layers[1].name, tuple(model.input_shape[1:])
    return None


def _mlp(input_shape, num_classes, hidden, name):
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    for i, units in enumerate(hidden):
        x = keras.layers.Dense(units, activation="relu", name=f"fc{i + 1}")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name=name)


@MODELS.register("mlp")
def lenet_300_100(input_shape, num_classes, config):
    """LeNet-300-100, the classic pruning benchmark MLP."""
    return _mlp(input_shape, num_classes, (300, 100), "mlp")


@MODELS.register("mlp_large")
def mlp_large(input_shape, num_classes, config):
    """1000-1000-500-200: the network of the weight-vs-unit pruning studies."""
    return _mlp(input_shape, num_classes, (1000, 1000, 500, 200), "mlp_large")


@MODELS.register("cnn")
def small_cnn(input_shape, num_classes, config):
    """Two conv blocks with BatchNorm and dropout: ~93% dense on Fashion-MNIST."""
    inputs = keras.Input(input_shape)
    x = inputs
    for block, filters in enumerate((32, 64)):
        for j in range(2):
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                    name=f"conv{block + 1}_{j + 1}")(x)
            x = keras.layers.BatchNormalization(momentum=config.bn_momentum)(x)
            x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
        x = keras.layers.Dropout(0.25)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(256, activation="relu", name="fc1")(x)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name="cnn")


def _rgb_input(input_shape, config):
    """(input, RGB tensor upscaled to config.input_size, its side): MobileNetV2's stem
    wants 3 channels, and 32x32 inputs leave it a 1x1 map to learn from."""
    inputs = keras.Input(input_shape)
    x = inputs
    side = config.input_size or input_shape[0]
    if side != input_shape[0]:
        x = keras.layers.Resizing(side, side, name="upscale")(x)
    if input_shape[-1] == 1:
        x = keras.layers.Concatenate()([x, x, x])
    return inputs, x, side


@MODELS.register("mobilenetv2")
def mobilenetv2(input_shape, num_classes, config):
    """keras.applications.MobileNetV2 from scratch, optionally on upscaled inputs.

    Stock BatchNorm momentum (0.999) keeps evaluation near chance for the first
    epochs of a short run, so it is set from the config.
    """
    inputs, x, side = _rgb_input(input_shape, config)
    # input_tensor keeps MobileNetV2's layers in this model's graph (not one nested
    # layer), so that pruning reaches every conv.
    base = keras.applications.MobileNetV2(input_shape=(side, side, 3), alpha=config.alpha,
                                          include_top=False, weights=None, pooling="avg",
                                          input_tensor=x)
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = config.bn_momentum
    x = base.output
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name="mobilenetv2")


def _divisible(value: float, divisor: int = 8) -> int:
    """MobileNet's channel rounding: to a multiple of 8, never below 90% of value."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


# (expansion, output channels, repeats, first stride): MobileNetV2's table 2.
MOBILENETV2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                      (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


@MODELS.register("mobilenetv2_xnnpack")
def mobilenetv2_xnnpack(input_shape, num_classes, config):
    """MobileNetV2 with the layout XNNPACK's sparse inference (and tfmot's
    PruneForLatencyOnXNNPack) needs: every stride-2 3x3 conv is a symmetric
    ZeroPadding2D(1) then a VALID conv. Keras' MobileNetV2 pads its stem 'same' and
    its stride-2 depthwise convs asymmetrically, which tfmot's policy refuses; the
    blocks, widths and output shapes are otherwise the same.
    """
    bn = lambda: keras.layers.BatchNormalization(momentum=config.bn_momentum,  # noqa: E731
                                                 epsilon=1e-3)
    inputs, x, side = _rgb_input(input_shape, config)
    x = keras.layers.ZeroPadding2D(1)(x)
    x = keras.layers.Conv2D(_divisible(32 * config.alpha), 3, strides=2, padding="valid",
                            use_bias=False, name="stem")(x)
    x = keras.layers.ReLU(6.0)(bn()(x))
    block = 0
    for expansion, channels, repeats, first_stride in MOBILENETV2_BLOCKS:
        for i in range(repeats):
            stride, inp = (first_stride if i == 0 else 1), x.shape[-1]
            out, y = _divisible(channels * config.alpha), x
            if expansion != 1:
                y = keras.layers.Conv2D(inp * expansion, 1, use_bias=False,
                                        name=f"block{block}_expand")(y)
                y = keras.layers.ReLU(6.0)(bn()(y))
            if stride == 2:
                y = keras.layers.ZeroPadding2D(1)(y)
            y = keras.layers.DepthwiseConv2D(3, strides=stride, use_bias=False,
                                             padding="same" if stride == 1 else "valid",
                                             name=f"block{block}_depthwise")(y)
            y = keras.layers.ReLU(6.0)(bn()(y))
            y = bn()(keras.layers.Conv2D(out, 1, use_bias=False,
                                         name=f"block{block}_project")(y))
            x = keras.layers.Add()([x, y]) if stride == 1 and inp == out else y
            block += 1
    last = 1280 if config.alpha <= 1.0 else _divisible(1280 * config.alpha)
    x = keras.layers.Conv2D(last, 1, use_bias=False, name="head")(x)
    x = keras.layers.ReLU(6.0)(bn()(x))
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name="mobilenetv2_xnnpack")
