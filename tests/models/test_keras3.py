"""Keras 3 models in, Keras 3 models out: the bridge to tf_keras (what tfmot wraps) and
back, on models a user builds with `import keras` today."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pruning.config import ExperimentConfig
from pruning.errors import ConfigError
from pruning.experiment import pipeline
from pruning.models import keras3 as bridge


def _convnet():
    inp = keras.Input((12, 12, 1))
    x = keras.layers.Rescaling(1 / 255)(inp)
    a = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    b = keras.layers.DepthwiseConv2D(3, padding="same")(a)
    b = keras.layers.BatchNormalization()(b)
    b = keras.layers.ReLU()(b)
    s = keras.layers.Add()([a, b])
    s = keras.layers.Multiply()([s, a])
    s = keras.layers.SeparableConv2D(8, 3, padding="same")(s)
    s = keras.layers.ZeroPadding2D(1)(s)
    s = keras.layers.MaxPooling2D()(s)
    s = keras.layers.AveragePooling2D(2)(s)
    c = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(s),
                                    keras.layers.GlobalMaxPooling2D()(s)])
    c = keras.layers.LayerNormalization()(c)
    c = keras.layers.Dropout(0.1)(c)
    c = keras.layers.Dense(16, activation="gelu")(c)
    return keras.Model(inp, keras.layers.Softmax()(keras.layers.Dense(4)(c)))


def _features():
    return keras.Sequential([keras.Input((20,)),
                             keras.layers.Normalization(mean=1.0, variance=4.0),
                             keras.layers.Dense(8), keras.layers.Activation("tanh"),
                             keras.layers.Reshape((8, 1)), keras.layers.Conv1D(4, 3),
                             keras.layers.Flatten(), keras.layers.Dense(3,
                                                                      activation="softmax")])


def _tokens():
    return keras.Sequential([keras.Input((12,), dtype="int32"), keras.layers.Embedding(50, 8),
                             keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)])


def _inputs(model):
    rng = np.random.default_rng(0)
    shape = (16, *model.inputs[0].shape[1:])
    if "int" in str(model.inputs[0].dtype):
        return rng.integers(0, 50, shape)
    return rng.uniform(0, 255, shape).astype("float32")


@pytest.mark.parametrize("build", [_convnet, _features, _tokens])
def test_the_bridged_model_computes_what_the_keras3_model_does(build):
    model = build()
    rebuilt = bridge.to_tf_keras(model, "model='m'")
    assert type(rebuilt).__module__.startswith("tf_keras.")
    assert bridge.max_abs_diff(model, rebuilt, _inputs(model)) <= bridge.TOLERANCE
    assert [w.shape for w in rebuilt.get_weights()] == [w.shape for w in model.get_weights()]


@pytest.mark.parametrize("build", [_convnet, _features])
def test_back_to_keras3_with_the_zeros_kept_and_loaded_in_a_fresh_python(build, tmp_path):
    rebuilt = bridge.to_tf_keras(build(), "model='m'")
    weights = [np.where(np.abs(w) < np.quantile(np.abs(w), 0.9), 0, w) if w.ndim > 1 else w
               for w in rebuilt.get_weights()]
    rebuilt.set_weights(weights)
    back = bridge.to_keras3(rebuilt, tmp_path / "m.keras")
    x = _inputs(back)
    assert bridge.max_abs_diff(rebuilt, back, x) <= bridge.TOLERANCE
    np.save(tmp_path / "x.npy", x)
    code = ("import keras, numpy as np, sys\n"
            f"m = keras.saving.load_model({str(tmp_path / 'm.keras')!r})\n"
            "kernels = [w for w in m.get_weights() if w.ndim > 1]\n"
            "print(keras.__version__, ','.join(str(int((k == 0).sum())) for k in kernels))")
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    version, zeros = done.stdout.split()
    expected = ",".join(str(int((w == 0).sum())) for w in weights if w.ndim > 1)
    assert version.startswith("3.") and zeros == expected  # every zero, where it was


def test_a_subclassed_keras3_model_is_refused_naming_what_to_do():
    class Mine(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ConfigError, match="subclassed Keras 3 model .*keras.Sequential"):
        bridge.to_tf_keras(Mine(), "model='m'")


def test_a_custom_keras3_layer_is_refused_by_name(tmp_path):
    @keras.saving.register_keras_serializable(package="tests")
    class Doubling(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    model = keras.Sequential([keras.Input((4,)), Doubling(name="twice"), keras.layers.Dense(2)])
    with pytest.raises(ConfigError, match="layer 'twice' \\(Doubling\\) has no tf_keras"):
        bridge.to_tf_keras(model, "model='m'")


def test_a_keras3_file_is_pruned_and_handed_back_as_keras3(store, tmp_path):
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 3, (3, 20))
    y = rng.integers(0, 3, 900)
    x = (centres[y] + rng.normal(0, 1, (900, 20))).astype("float32")
    np.savez(tmp_path / "d.npz", x_train=x[:700], y_train=y[:700], x_test=x[700:],
             y_test=y[700:])
    model = _features()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x[:700], y[:700], epochs=3, verbose=0)
    model.save(tmp_path / "k3.keras")
    config = ExperimentConfig(dataset=str(tmp_path / "d.npz"), model=str(tmp_path / "k3.keras"),
                              retrain_epochs=2, batch_size=64, frequency=2, latency_runs=5,
                              latency_window=0, calibration_samples=32)
    result = pipeline.run(config, experiment_name="k3")
    run = MlflowClient().get_run(result.run_id)
    assert run.data.tags["source_keras"] == keras.__version__
    assert float(run.data.tags["bridge_max_abs_diff"]) <= bridge.TOLERANCE
    path = MlflowClient().download_artifacts(result.run_id, "model_keras3/model.keras",
                                             str(tmp_path))
    shipped = keras.saving.load_model(path)
    assert type(shipped).__module__.startswith("keras.")
    dense_kernels = [w for w in shipped.get_weights() if w.ndim == 2 and w.shape[1] > 3]
    assert dense_kernels and float((dense_kernels[0] == 0).mean()) == pytest.approx(0.9,
                                                                                   abs=0.02)
    np.testing.assert_allclose(shipped.predict(x[700:710], verbose=0),
                               result.pruned_model.predict(x[700:710], verbose=0), atol=1e-5)


def test_raw_pixels_reach_a_model_that_rescales_them_as_it_takes_them(store, tmp_path):
    """The Keras tutorials' model: (H, W) uint8 images in, rescaled and reshaped inside."""
    from pruning import data

    raw = data.load("synthetic", "", 0.1, 0)  # the loader's view: scaled, channel added
    x_train = np.rint(raw.x_train[..., 0] * 255).astype("uint8")
    x_test = np.rint(raw.x_test[..., 0] * 255).astype("uint8")
    inputs = keras.Input((20, 10))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Reshape((20, 10, 1))(x)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, raw.y_train, epochs=3, verbose=0)
    _, own = model.evaluate(x_test, raw.y_test, verbose=0)
    model.save(tmp_path / "tutorial.keras")
    config = ExperimentConfig(dataset="synthetic", model=str(tmp_path / "tutorial.keras"),
                              retrain_epochs=1, batch_size=64, frequency=1, latency_runs=5,
                              latency_window=0, calibration_samples=16)
    result = pipeline.run(config, experiment_name="raw")
    run = MlflowClient().get_run(result.run_id)
    assert run.data.params["input_form"] == ("uint8 images as raw 0-255 pixels (the model "
                                             "rescales them), shaped as given")
    assert "- inputs: uint8 images as raw 0-255 pixels" in run.data.tags["mlflow.note.content"]
    # the dense accuracy the run logs is the user's model's own on that test set
    assert result.metrics["dense_test_accuracy"] == pytest.approx(own, abs=1e-6)


def test_a_keras3_model_logged_with_mlflow_keras_starts_a_run_from_the_registry(store):
    import mlflow

    from pruning import data

    splits = data.load("synthetic", "", 0.1, 0)
    model = keras.Sequential([keras.Input(splits.input_shape), keras.layers.Flatten(),
                              keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(splits.x_train, splits.y_train, epochs=2, verbose=0)
    with mlflow.start_run():
        info = mlflow.keras.log_model(model, name="k3", registered_model_name="k3-dense")
    config = ExperimentConfig(dataset="synthetic", model="models:/k3-dense/1",
                              retrain_epochs=1, batch_size=64, frequency=1, latency_runs=5,
                              latency_window=0, calibration_samples=16)
    result = pipeline.run(config, experiment_name="from-registry")
    tags = MlflowClient().get_run(result.run_id).data.tags
    assert tags["source_keras"] == keras.__version__ and tags["model_source"] == "mlflow"
    assert tags["source_model_id"] == info.model_id
    assert float(tags["bridge_max_abs_diff"]) <= bridge.TOLERANCE


def test_a_keras3_object_ships_files_that_take_raw_images_and_registers_as_keras3(store,
                                                                                 tmp_path):
    """A Keras 3 model handed to the Python API, trained on [0, 1] images with a channel
    axis: the TFLite file, the Keras 3 file and the registered model all take the uint8
    (N, 20, 10) images a user has, and the registered model is the Keras 3 one."""
    import mlflow
    from ai_edge_litert.interpreter import Interpreter

    from pruning import data

    splits = data.load("synthetic", "", 0.1, 0)  # scaled, channel axis added
    model = keras.Sequential([keras.Input(splits.input_shape), keras.layers.Flatten(),
                              keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")], name="handed")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(splits.x_train, splits.y_train, epochs=2, verbose=0)
    before = [w.copy() for w in model.get_weights()]
    config = ExperimentConfig(dataset="synthetic", retrain_epochs=1, batch_size=64,
                              frequency=1, latency_runs=5, latency_window=0,
                              calibration_samples=16)
    result = pipeline.run(config, experiment_name="object", model=model,
                          register_model="k3-pruned")
    assert result.config.model == "object:handed"
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    raw = splits.as_given(splits.x_test)
    assert raw.dtype == np.uint8 and raw.shape[1:] == (20, 10)
    expected = result.pruned_model.predict(splits.x_test, verbose=0)
    client = MlflowClient()
    tflite = client.download_artifacts(result.run_id, "model_int8.tflite", str(tmp_path))
    interpreter = Interpreter(model_path=tflite)
    given = interpreter.get_input_details()[0]
    assert given["dtype"] == np.uint8 and list(given["shape"]) == [1, 20, 10]
    interpreter.resize_tensor_input(given["index"], [len(raw), 20, 10])
    interpreter.allocate_tensors()
    interpreter.set_tensor(given["index"], raw)
    interpreter.invoke()
    predicted = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert float(np.mean(predicted.argmax(-1) == splits.y_test)) == pytest.approx(
        result.metrics["tflite_int8_test_accuracy"])
    path = client.download_artifacts(result.run_id, "model_keras3/model.keras", str(tmp_path))
    np.testing.assert_allclose(keras.saving.load_model(path).predict(raw, verbose=0),
                               expected, atol=1e-5)
    assert result.registered == "k3-pruned/1"
    local = mlflow.artifacts.download_artifacts("models:/k3-pruned/1", dst_path=str(tmp_path))
    assert (tmp_path / local / "artifacts" / "model.keras").exists()
    served = mlflow.pyfunc.load_model("models:/k3-pruned/1")
    np.testing.assert_allclose(served.predict(raw), expected, atol=1e-5)
    assert client.get_model_version("k3-pruned", "1").tags["source_keras"] == keras.__version__
    assert client.get_logged_model(result.model_id).tags["source_keras"] == keras.__version__
    # and the registered Keras 3 model is a starting point again, raw pixels and all
    again = pipeline.run(config.replace(model="models:/k3-pruned/1", final_sparsity=0.95),
                         experiment_name="object")
    assert again.metrics["dense_test_accuracy"] == pytest.approx(
        result.metrics["test_accuracy"], abs=1e-6)
    assert client.get_run(again.run_id).data.params["input_form"].startswith(
        "uint8 images as raw 0-255 pixels")


@pytest.fixture
def keras3_cnn_file(tmp_path):
    """A trained Keras 3 CNN saved as a user would, for the synthetic (20, 10) images."""
    from pruning import data

    splits = data.load("synthetic", "", 0.1, 0)
    model = keras.Sequential([keras.Input(splits.input_shape),
                              keras.layers.Conv2D(8, 3, activation="relu"),
                              keras.layers.Conv2D(8, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(splits.x_train, splits.y_train, epochs=2, verbose=0)
    model.save(tmp_path / "cnn.keras")
    return str(tmp_path / "cnn.keras")


@pytest.mark.parametrize("argv", [
    ["run", "--granularity", "channel", "--final-sparsity", "0.5"],
    ["run", "--seeds", "0,1"],
    ["tune", "--n-trials", "2", "--trial-pruner", "none"],
    ["sweep", "--sparsities", "0.5,0.9"],
    ["sensitivity", "--sparsities", "0.5"],
], ids=["channel", "seeds", "tune", "sweep", "sensitivity"])
def test_every_command_takes_a_keras3_file(store, keras3_cnn_file, argv):
    from pruning import cli

    assert cli.main([*argv, "--dataset", "synthetic", "--model", keras3_cnn_file,
                     "--retrain-epochs", "1", "--batch-size", "64", "--frequency", "1",
                     "--latency-runs", "5", "--latency-window", "0",
                     "--calibration-samples", "16", "--experiment-name", "k3"]) == 0
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("k3").experiment_id])
    assert runs and all(r.info.status == "FINISHED" for r in runs)
    bridged = [r for r in runs if "source_keras" in r.data.tags]
    assert bridged and all(r.data.tags["source_keras"] == keras.__version__ for r in bridged)


JAX_SAVE = """
import os, sys
os.environ["KERAS_BACKEND"] = "jax"
import keras, numpy as np
assert keras.backend.backend() == "jax"
data = np.load(sys.argv[1])
model = keras.Sequential([keras.Input((20, 10)), keras.layers.Rescaling(1 / 255),
                          keras.layers.Reshape((20, 10, 1)),
                          keras.layers.Conv2D(8, 3, activation="relu"),
                          keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(data["x_train"], data["y_train"], epochs=2, verbose=0)
print(model.evaluate(data["x_test"], data["y_test"], verbose=0)[1])
model.save(sys.argv[2])
"""


def test_a_model_saved_with_the_jax_backend_is_pruned_from_its_file(store, tmp_path):
    pytest.importorskip("jax")
    from pruning.data import DATASETS

    (x_train, y_train), (x_test, y_test), _ = DATASETS.get("synthetic")(tmp_path)
    np.savez(tmp_path / "raw.npz", x_train=x_train, y_train=y_train, x_test=x_test,
             y_test=y_test)
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    done = subprocess.run([sys.executable, "-c", JAX_SAVE, str(tmp_path / "raw.npz"),
                           str(tmp_path / "jax.keras")], env=env, capture_output=True,
                          text=True, check=True)
    own = float(done.stdout.split()[-1])
    config = ExperimentConfig(dataset=str(tmp_path / "raw.npz"),
                              model=str(tmp_path / "jax.keras"), retrain_epochs=1,
                              batch_size=64, frequency=1, latency_runs=5, latency_window=0,
                              calibration_samples=16)
    result = pipeline.run(config, experiment_name="jax")
    tags = MlflowClient().get_run(result.run_id).data.tags
    assert float(tags["bridge_max_abs_diff"]) <= bridge.TOLERANCE
    assert result.metrics["dense_test_accuracy"] == pytest.approx(own, abs=1e-6)
