"""How much removing whole channels could buy: the Fashion-MNIST `cnn` rebuilt narrower
(untrained: latency does not depend on the weights), its multiply-adds and batch-1 int8
LiteRT latency. A sizing check for structured (channel) pruning, not a test.

    python bench/channel_widths.py --data-dir ../data
"""
import argparse

import numpy as np

import pruning  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from pruning import data, export, flops, models
from pruning.config import ExperimentConfig


def narrow_cnn(width: float, splits):
    """models.small_cnn with every conv and the hidden Dense at `width` of its channels."""
    keras = models.keras
    inputs = keras.Input(splits.input_shape)
    x = inputs
    for filters in (32, 64):
        for _ in range(2):
            x = keras.layers.Conv2D(max(1, round(filters * width)), 3, padding="same",
                                    use_bias=False)(x)
            x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Dense(max(1, round(256 * width)), activation="relu")(
        keras.layers.Flatten()(x))
    return keras.Model(inputs, keras.layers.Dense(splits.num_classes, activation="softmax")(x))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../data")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    splits = data.load("fashion_mnist", args.data_dir, 0.1, 0)
    full = models.build("cnn", splits.input_shape, splits.num_classes, ExperimentConfig())
    print(f"models.cnn itself: {flops.model_flops(full) / 1e6:.2f} M multiply-adds")
    print("| share of channels kept | M multiply-adds | int8 latency (us) | vs full width |")
    print("| --- | --- | --- | --- |")
    base = None
    for width in (1.0, 0.75, 0.5, 0.35, 0.25):
        model = narrow_cnn(width, splits)
        tflite = export.to_tflite_int8(model, splits.x_train[:200], per_channel=True)
        latency = float(np.median([export.latency_us(tflite, splits.x_test[0], args.runs)
                                   for _ in range(3)]))
        base = base or latency
        print(f"| {width:.0%} | {flops.model_flops(model) / 1e6:.2f} | {latency:.0f} | "
              f"{base / latency:.1f}x |")


if __name__ == "__main__":
    main()
