"""Your own model and data, the way pruning meets them: a tf_keras model trained and saved
by your own script, data in an .npz file. This script plays that user.

    python examples/own_model.py --data-dir ../data --out examples/out [--register NAME]

writes `OUT/fashion.npz` (Fashion-MNIST as uint8 arrays), trains a small Functional CNN
on it (logits head named "logits": nothing of the package's own conventions) and saves
`OUT/fashion_cnn.keras`; with --register, also logs it to MLflow
(`mlflow.tensorflow.log_model`), registers it and points the alias `champion` at it.
Then prune it (README, "Your own model"):

    pruning run --model OUT/fashion_cnn.keras --dataset OUT/fashion.npz
    pruning run --model models:/NAME@champion --dataset OUT/fashion.npz --register-model NAME-pruned
"""
import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tfmot needs Keras 2: tf_keras
import numpy as np  # noqa: E402
import tf_keras as keras  # noqa: E402

import fashion_files  # noqa: E402  (beside this script)

def build() -> keras.Model:
    inputs = keras.Input((28, 28, 1))
    x = inputs
    for filters in (32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(x), name="fashion_cnn")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../data")
    parser.add_argument("--out", default="examples/out")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--register", default="", help="registered model name (MLflow)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    arrays = fashion_files.arrays(args.data_dir)
    np.savez(out / "fashion.npz", **arrays)

    keras.utils.set_random_seed(0)
    model = build()
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
    x_train, x_test = arrays["x_train"][..., None] / 255.0, arrays["x_test"][..., None] / 255.0
    model.fit(x_train, arrays["y_train"], epochs=args.epochs, batch_size=128, verbose=2)
    _, accuracy = model.evaluate(x_test, arrays["y_test"], verbose=0)
    model.save(out / "fashion_cnn.keras")
    print(f"test accuracy {accuracy:.4f}; saved {out / 'fashion_cnn.keras'} and "
          f"{out / 'fashion.npz'}")
    if args.register:
        import mlflow

        with mlflow.start_run(run_name="fashion_cnn-trained"):
            mlflow.log_metric("test_accuracy", accuracy)
            info = mlflow.tensorflow.log_model(model, name="model",
                                               registered_model_name=args.register)
        mlflow.MlflowClient().set_registered_model_alias(
            args.register, "champion", info.registered_model_version)
        print(f"registered as models:/{args.register}@champion")


if __name__ == "__main__":
    main()
