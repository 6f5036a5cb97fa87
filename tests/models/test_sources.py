"""The user's own model: files, MLflow URIs and builders as starting points, and every
refusal with its message. Tiny models on the synthetic data (20x10 images, 10 classes)."""
import sys
import textwrap

import mlflow
import numpy as np
import pytest
import tf_keras as keras
from mlflow.tracking import MlflowClient

from pruning import cli
from pruning.data import splits as data
from pruning.experiment import pipeline
from pruning.models import checks as model_checks
from pruning.models import sources as model_sources
from pruning.config import ExperimentConfig
from pruning.errors import ConfigError, DataError
from pruning.experiment.pipeline import Outputs

SMALL = dict(dataset="synthetic", retrain_epochs=2, batch_size=64, frequency=1,
             latency_runs=5, latency_window=0, calibration_samples=16)
QUICK = Outputs(export=False)


def _splits():
    return data.load("synthetic", "", 0.1, 0)


def _trained(logits=True, head="scores", epochs=4):
    """A Functional classifier whose head is not called "output" and, by default, gives
    logits: nothing of the built-in models' conventions."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((20, 10, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(32, activation="relu", name="hidden")(x)
    outputs = keras.layers.Dense(10, activation=None if logits else "softmax", name=head)(x)
    model = keras.Model(inputs, outputs)
    splits = _splits()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=logits),
                  ["accuracy"])
    model.fit(splits.x_train, splits.y_train, epochs=epochs, verbose=0)
    return model


@pytest.fixture(scope="module")
def trained():
    return _trained()


@pytest.mark.parametrize("name", ["model.keras", "model.h5", "saved_model"])
def test_a_trained_file_is_the_dense_starting_point(tmp_path, trained, name):
    trained.save(tmp_path / name)
    config = ExperimentConfig(model=str(tmp_path / name), **SMALL)
    assert config.dense_epochs == 0  # auto: no pre-training of a trained model
    result = pipeline.run(config, tracking=False, outputs=QUICK)
    assert len(result.history) == 2  # only the pruning epochs
    splits = _splits()
    expected = trained.evaluate(splits.x_test, splits.y_test, verbose=0)[1]
    assert result.metrics["dense_test_accuracy"] == pytest.approx(expected, abs=1e-6)
    assert result.metrics["sparsity"] == pytest.approx(0.9, abs=0.01)
    # the head (whatever its name) stays dense; the hidden layer was pruned
    kernels = {layer.name: layer.get_weights()[0] for layer in result.pruned_model.layers
               if layer.get_weights()}
    assert np.count_nonzero(kernels["scores"]) == kernels["scores"].size
    assert np.mean(kernels["hidden"] == 0) == pytest.approx(0.9, abs=0.01)


def test_digest_is_content_not_names(trained):
    clone = keras.models.clone_model(trained)  # new layer names, same architecture
    clone.set_weights(trained.get_weights())
    assert model_checks.digest(clone) == model_checks.digest(trained)
    clone.set_weights([w + 1 for w in trained.get_weights()])
    assert model_checks.digest(clone) != model_checks.digest(trained)


def test_cache_is_keyed_by_the_model_content(store, tmp_path, trained):
    path = tmp_path / "m.keras"
    trained.save(path)
    config = ExperimentConfig(model=str(path), pretrain_epochs=1, **SMALL)
    first = pipeline.run(config, outputs=QUICK)
    again = pipeline.run(config, outputs=QUICK)
    tags = [MlflowClient().get_run(r.run_id).data.tags for r in (first, again)]
    assert [t["pretrain_cached"] for t in tags] == ["false", "true"]
    assert tags[0]["model_source"] == "file" and tags[0]["model_digest"] == \
        model_checks.digest(trained)
    trained.set_weights([w * 0.5 for w in trained.get_weights()])
    keras.models.save_model(trained, path)  # same path, other weights: a new dense model
    changed = pipeline.run(config, outputs=QUICK)
    assert MlflowClient().get_run(changed.run_id).data.tags["pretrain_cached"] == "false"


def test_registered_model_to_pruned_registered_model(store, trained):
    with mlflow.start_run():
        info = mlflow.tensorflow.log_model(trained, name="model", registered_model_name="tiny")
    client = MlflowClient()
    client.set_registered_model_alias("tiny", "champion", "1")
    config = ExperimentConfig(model="models:/tiny@champion", **SMALL)
    result = pipeline.run(config, register_model="tiny-pruned")
    run = client.get_run(result.run_id)
    assert run.data.tags["model_source"] == "mlflow"
    assert run.data.tags["source_model_version"] == "tiny/1"
    assert run.data.tags["source_model_id"] == info.model_id
    assert [m.model_id for m in run.inputs.model_inputs] == [info.model_id]
    assert run.data.tags["registered_model"] == "tiny-pruned/1@champion"
    version = client.get_model_version("tiny-pruned", "1")
    assert version.tags["pruned_from"] == "models:/tiny@champion"
    assert version.tags["source_model_version"] == "tiny/1"
    assert (run.data.params["pretrain_epochs"], run.data.params["resolved_pretrain_epochs"]) \
        == ("auto", "0")  # as asked, and as resolved (config.json holds the 0)
    assert len(result.history) == 2 and result.metrics["sparsity"] > 0.89
    # ... and the pruned model, logged by pruning, is a starting point too (runs:/ and
    # models:/<id>): pruned again, its zeros stay
    again = pipeline.run(config.replace(model=f"models:/{result.model_id}",
                                          initial_sparsity=0.9, final_sparsity=0.95),
                           outputs=QUICK)
    assert again.metrics["dense_test_accuracy"] == pytest.approx(
        result.metrics["test_accuracy"], abs=1e-6)
    by_run = pipeline.run(config.replace(model=f"runs:/{info.run_id}/model"), tracking=False,
                            outputs=QUICK)
    assert by_run.metrics["dense_test_accuracy"] == pytest.approx(
        result.metrics["dense_test_accuracy"], abs=1e-6)


def test_a_starting_model_comes_from_the_store_named_by_tracking_uri(store, trained, tmp_path):
    # The process's store is `store`; the model is in another one, named by --tracking-uri.
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere' / 'mlflow.db'}"
    mlflow.set_tracking_uri(elsewhere)
    mlflow.set_experiment("models")
    with mlflow.start_run() as run:
        mlflow.tensorflow.log_model(trained, name="model")
    mlflow.set_tracking_uri(store)
    mlflow.set_experiment("tests")
    config = ExperimentConfig(model=f"runs:/{run.info.run_id}/model", **SMALL)
    result = pipeline.run(config, tracking_uri=elsewhere, experiment_name="pruned",
                          outputs=QUICK)
    pruned = MlflowClient(tracking_uri=elsewhere).get_run(result.run_id)
    assert pruned.data.tags["model_source"] == "mlflow"


def _module(tmp_path, monkeypatch, source: str) -> str:
    """A builder module in a temporary folder, importable from the current folder."""
    name = f"user_models_{abs(hash(source)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    return name


def test_builder_is_trained_here(tmp_path, monkeypatch):
    module = _module(tmp_path, monkeypatch, """
        import tf_keras as keras

        def build(input_shape, num_classes):
            inputs = keras.Input(input_shape)
            x = keras.layers.Conv2D(8, 3, name="conv")(inputs)
            x = keras.layers.Flatten()(x)
            return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax",
                                                          name="head")(x))
    """)
    config = ExperimentConfig(model=f"{module}:build", pretrain_epochs=2, **SMALL)
    assert model_sources.kind_of(config.model) == "builder"
    result = pipeline.run(config, tracking=False, outputs=QUICK)
    assert len(result.history) == 4 and result.metrics["dense_test_accuracy"] > 0.5
    assert ExperimentConfig(model=f"{module}:build").dense_epochs == 10  # built here: trained


REFUSALS = {
    "subclassed": ("""
        import tf_keras as keras

        class Net(keras.Model):
            def __init__(self):
                super().__init__()
                self.flat, self.head = keras.layers.Flatten(), keras.layers.Dense(10)
            def call(self, x):
                return self.head(self.flat(x))

        def build():
            return Net()
    """, "is a subclassed Net"),
    "custom_dense": ("""
        import tf_keras as keras

        class MyDense(keras.layers.Dense):
            pass

        def build(input_shape, num_classes):
            inputs = keras.Input(input_shape)
            x = MyDense(16)(keras.layers.Flatten()(inputs))
            return keras.Model(inputs, keras.layers.Dense(num_classes)(x))
    """, "cannot be pruned by tfmot"),
    "nothing_to_prune": ("""
        import tf_keras as keras

        def build(input_shape, num_classes):
            inputs = keras.Input(input_shape)
            return keras.Model(inputs, keras.layers.Dense(num_classes)(
                keras.layers.Flatten()(inputs)))
    """, "has no layer pruning_policy=all prunes"),
    "wrong_input": ("""
        import tf_keras as keras

        def build():
            inputs = keras.Input((28, 28, 1))
            x = keras.layers.Dense(8)(keras.layers.Flatten()(inputs))
            return keras.Model(inputs, keras.layers.Dense(10)(x))
    """, "takes inputs shaped (28, 28, 1) but dataset 'synthetic' (synthetic) has (20, 10, 1)"),
    "too_few_classes": ("""
        import tf_keras as keras

        def build(input_shape):
            inputs = keras.Input(input_shape)
            x = keras.layers.Dense(8)(keras.layers.Flatten()(inputs))
            return keras.Model(inputs, keras.layers.Dense(3)(x))
    """, "scores 3 classes but dataset 'synthetic' (synthetic) has labels up to 9"),
    "wants_more": ("""
        def build(width):
            pass
    """, "build() wants width"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_builder_refusals_exit_2_before_any_run(store, tmp_path, monkeypatch, capsys, case):
    source, fragment = REFUSALS[case]
    module = _module(tmp_path, monkeypatch, source)
    code = cli.main(["run", "--dataset", "synthetic", "--model", f"{module}:build",
                     "--pretrain-epochs", "1", "--retrain-epochs", "1", "--frequency", "1"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("pruning: error")]
    assert code == cli.EXIT_BAD_INPUT, err
    assert len(errors) == 1 and fragment in errors[0] and "Traceback" not in err, err
    assert MlflowClient().search_runs([e.experiment_id for e in
                                       MlflowClient().search_experiments()]) == []


class Custom(keras.layers.Layer):
    """A layer tf_keras cannot rebuild from a file (not registered as serializable)."""

    def build(self, shape):
        self.w = self.add_weight(name="w", shape=(shape[-1], 10))

    def call(self, x):
        return x @ self.w


def test_file_refusals(tmp_path):
    inputs = keras.Input((20, 10, 1))
    custom = keras.Model(inputs, Custom()(keras.layers.Flatten()(inputs)))
    custom.save(tmp_path / "custom.h5")
    (tmp_path / "junk.keras").write_bytes(b"not a model")
    cases = {"custom.h5": "custom layer tf_keras cannot rebuild",
             "junk.keras": "is not a model tf_keras can load",
             "missing.keras": "no such file or folder"}
    splits = _splits()
    for name, fragment in cases.items():
        config = ExperimentConfig(model=str(tmp_path / name), **SMALL)
        with pytest.raises(ConfigError, match=fragment):
            model_sources.starting_model(config, splits.input_shape, splits.num_classes)


def test_unknown_spellings_list_every_form():
    with pytest.raises(ConfigError) as info:
        ExperimentConfig(model="mlpp")
    text = str(info.value)
    assert "unknown model 'mlpp'; choose one of: cnn, mlp" in text
    for form in (".keras, .h5, SavedModel", "models:/NAME@ALIAS", "runs:/RUN_ID/PATH",
                 "package.module:function"):
        assert form in text
    with pytest.raises(ConfigError, match="cannot be fetched"):
        splits = _splits()
        model_sources.starting_model(ExperimentConfig(model="models:/nope/1", **SMALL),
                                     splits.input_shape, splits.num_classes)


def test_data_checks_name_model_and_data(trained):
    splits = _splits()
    flat = data.Splits(**{**splits.__dict__, "x_train": splits.x_train.reshape(-1, 200)})
    with pytest.raises(DataError, match=r"takes inputs shaped \(20, 10, 1\) but dataset "
                                        r"'synthetic' \(synthetic\) has \(200,\)"):
        model_checks.check_data(trained, flat, "m.keras")


def test_sweep_and_tune_start_from_a_file(store, tmp_path, trained):
    from pruning.studies import sweep
    from pruning.studies import tune
    from pruning.studies.configs import SweepConfig, TuneConfig

    trained.save(tmp_path / "m.keras")
    base = ExperimentConfig(model=str(tmp_path / "m.keras"), **SMALL)
    points, parent = sweep.run_sweep(base, SweepConfig(sparsities="0.5,0.9", methods="weight,unit"),
                                     experiment_name="sweep", print_line=lambda text: None)
    assert len(points) == 4
    result = tune.run_study(base, TuneConfig(n_trials=2, search="retrain_epochs=int:1:2",
                                             storage=str(tmp_path / "study.log")),
                            experiment_name="tune", print_line=lambda text: None)
    assert result.study_name == "m-synthetic-accuracy" and result.n_trials == 2
    client = MlflowClient()
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    trials = [r for r in runs if r.data.tags.get("pruning.role") == "experiment"
              and "trial_number" in r.data.tags]
    assert len(trials) == 2 and all(r.info.status == "FINISHED" for r in trials)
    assert {r.data.tags["model_source"] for r in trials} == {"file"}
    assert not [r for r in runs if r.data.tags.get("pruning.role") == "pretrain"]


def test_mlflow_run_prunes_a_model_file_on_an_npz(store, tmp_path, trained):
    """The MLproject interface: -P model=FILE -P dataset=FILE, nothing else."""
    from tests.cli.test_cli import mlflow_run

    splits = _splits()
    np.savez(tmp_path / "d.npz", x_train=np.round(splits.x_train[..., 0] * 255).astype(np.uint8),
             y_train=splits.y_train, x_test=np.round(splits.x_test[..., 0] * 255)
             .astype(np.uint8), y_test=splits.y_test)
    trained.save(tmp_path / "m.h5")
    run = mlflow_run(store, tmp_path, f"model={tmp_path / 'm.h5'}",
                     f"dataset={tmp_path / 'd.npz'}", "retrain_epochs=2", "frequency=1",
                     "latency_runs=5", "latency_window=0")
    assert run.info.status == "FINISHED" and run.data.tags["model_source"] == "file"
    assert run.data.params["resolved_pretrain_epochs"] == "0"
    assert run.data.metrics["sparsity"] == pytest.approx(0.9, abs=0.01)
