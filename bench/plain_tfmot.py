"""The main job's work as a plain tfmot script would do it, nothing else: no tracking, no
latency, no plots, no masks. The baseline `bench/whole_job.py` pairs the main job with.

    python bench/plain_tfmot.py --data-dir ../data

Same data (MNIST's files, 10% held out for validation), model (LeNet-300-100), optimizer
(Adam, cosine decay), batch size, epochs and pruning window (polynomial decay 50% -> 90%
over the first 70% of retraining, a mask update every 100 steps) as
`pruning run --dataset mnist --model mlp --recipe none --pretrain-epochs 5
--retrain-epochs 5`; then strip, int8 TFLite (200 calibration samples) and its test
accuracy, as a user checking their model would.
"""
import argparse
import os
import time
from pathlib import Path

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tfmot's Keras; before TensorFlow's import

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402
import tf_keras as keras  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

BATCH, EPOCHS = 128, 5


def mnist(path: Path):
    """MNIST as `python ../shared/datasets/prepare.py` writes it, split as pruning does."""
    with np.load(path) as d:
        x = d["x_train"][..., None] / np.float32(255)
        x_test, y, y_test = d["x_test"][..., None] / np.float32(255), d["y_train"], d["y_test"]
    order = np.random.default_rng(0).permutation(len(x))
    val, train = order[:6000], order[6000:]
    return (x[train], y[train].astype(np.int64)), (x[val], y[val].astype(np.int64)), \
        (x_test, y_test.astype(np.int64))


def compile_fit(model, data, lr, callbacks=()):
    (x, y), val = data[0], data[1]
    steps = -(-len(x) // BATCH)
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
        lr, EPOCHS * steps)), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, validation_data=val, verbose=0,
              callbacks=list(callbacks))
    return steps


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="../data")
    args = parser.parse_args()
    began = time.perf_counter()
    data = mnist(Path(args.data_dir) / "mnist.npz")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(300, activation="relu")(x)
    x = keras.layers.Dense(100, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    steps = compile_fit(model, data, 1e-3)
    schedule = tfmot.sparsity.keras.PolynomialDecay(0.5, 0.9, begin_step=0,
                                                    end_step=int(0.7 * EPOCHS * steps),
                                                    power=3, frequency=100)
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
    compile_fit(pruned, data, 5e-4, [tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)
    converter = tf.lite.TFLiteConverter.from_keras_model(stripped)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    samples = data[0][0][:200]
    converter.representative_dataset = lambda: ([samples[i: i + 1]] for i in range(200))
    tflite = converter.convert()
    interpreter = Interpreter(model_content=tflite)
    (x_test, y_test) = data[2]
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(x_test.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x_test)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    print(f"int8 test accuracy {np.mean(out.argmax(-1) == y_test):.4f}, "
          f"{len(tflite)} bytes, {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
