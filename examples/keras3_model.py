"""A Keras 3 user's model and data, as they are in 2026: `import keras` (Keras 3), a model
that takes raw (28, 28) uint8 images and rescales them itself, the arrays as the Keras
datasets give them. This script plays that user.

    python examples/keras3_model.py --data-dir ../data --out examples/out

writes `OUT/fashion_raw.npz` (Fashion-MNIST as uint8 (N, 28, 28), no channel axis, not
scaled), trains a small Functional CNN on it with Keras 3 and saves
`OUT/fashion_k3.keras`. Then prune it from its file (docs/own-model.md, "Keras 3 models"):

    pruning run --model OUT/fashion_k3.keras --dataset OUT/fashion_raw.npz --final-sparsity 0.9
"""
import argparse
from pathlib import Path

import keras  # Keras 3: no TF_USE_LEGACY_KERAS here, as a user's own script has none
import numpy as np

import fashion_files  # beside this script


def build() -> keras.Model:
    """The Keras tutorials' way: raw pixels in, the model rescales and reshapes them."""
    inputs = keras.Input((28, 28))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Reshape((28, 28, 1))(x)
    for filters in (32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x),
                       name="fashion_k3")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../data")
    parser.add_argument("--out", default="examples/out")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    arrays = fashion_files.arrays(args.data_dir)
    np.savez(out / "fashion_raw.npz", **arrays)

    keras.utils.set_random_seed(0)
    model = build()
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(arrays["x_train"], arrays["y_train"], epochs=args.epochs, batch_size=128,
              validation_split=0.1, verbose=2)
    _, accuracy = model.evaluate(arrays["x_test"], arrays["y_test"], verbose=0)
    model.save(out / "fashion_k3.keras")
    print(f"Keras {keras.__version__}: test accuracy {accuracy:.4f}; saved "
          f"{out / 'fashion_k3.keras'}")


if __name__ == "__main__":
    main()
