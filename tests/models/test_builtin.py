"""The shipped model as MLflow users get it: named, with its own metrics, loadable and
servable with no environment variable, in the Model Registry."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pruning.data import splits as data
from pruning.experiment import pipeline
from pruning.studies import tune
from pruning.config import ExperimentConfig
from pruning.studies.configs import TuneConfig

from tests.conftest import use_store

CONFIG = dict(dataset="synthetic", pretrain_epochs=2, retrain_epochs=2, batch_size=64,
              frequency=1, latency_runs=5, latency_window=0, calibration_samples=16)


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """Two pruned models (90% and 80%), both registered under one name."""
    folder = tmp_path_factory.mktemp("models")
    with use_store(folder) as uri:
        config = ExperimentConfig(**CONFIG)
        first = pipeline.run(config, experiment_name="m", register_model="tiny")
        second = pipeline.run(config.replace(final_sparsity=0.8), experiment_name="m",
                                register_model="tiny")
        yield uri, folder, first, second, MlflowClient()


def test_models_are_named_and_carry_their_own_final_metrics(registered):
    _, _, first, second, client = registered
    a, b = client.get_logged_model(first.model_id), client.get_logged_model(second.model_id)
    assert (a.name, b.name) == ("mlp-synthetic-90", "mlp-synthetic-80")
    own = {m.key: m for m in a.metrics}
    for key in ("test_accuracy", "tflite_int8_test_accuracy", "sparsity", "nonzero_params",
                "tflite_int8_bytes_gzip", "int8_latency_us", "size_reduction"):
        assert own[key].value == pytest.approx(first.metrics[key])
    # no training-epoch metric (e.g. the first dense epoch's loss) attaches to the model
    assert "loss" not in own and "val_accuracy" not in own
    assert own["test_accuracy"].dataset_name == "synthetic-evaluation"
    assert {m.key: m.value for m in b.metrics}["sparsity"] == pytest.approx(0.8, abs=1e-3)
    # the run's params were logged before the model, so the model carries them
    assert a.params["final_sparsity"] == "0.9"


def test_registry_versions_are_tagged_with_what_they_cost(registered):
    _, _, first, second, client = registered
    versions = sorted(client.search_model_versions("name='tiny'"), key=lambda v: int(v.version))
    assert {v.run_id for v in versions} == {first.run_id, second.run_id}
    assert [str(v.version) for v in versions] == ["1", "2"]
    assert versions[0].tags["sparsity"] == f"{first.metrics['sparsity']:.6g}"
    assert "test_accuracy" in versions[1].tags and "size_reduction" in versions[1].tags
    assert "test accuracy" in versions[0].description
    run = client.get_run(first.run_id)
    assert run.data.tags["registered_model"] == "tiny/1@champion"
    files = {f.path for f in client.list_artifacts(first.run_id)}
    assert "model_int8.tflite" in files


def _clean_env(uri):
    """A user's shell: no TF_USE_LEGACY_KERAS, nothing of this package's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "MLFLOW_"))}
    env["MLFLOW_TRACKING_URI"] = uri
    return env


def test_model_loads_in_a_fresh_python_with_no_environment_variable(registered):
    uri, folder, first, _, _ = registered
    script = ("import os, sys, json, numpy as np, mlflow\n"
              "assert 'TF_USE_LEGACY_KERAS' not in os.environ\n"
              "m = mlflow.pyfunc.load_model('models:/tiny/1')\n"
              "x = np.asarray(json.loads(sys.stdin.read()), dtype=np.uint8)\n"
              "print(json.dumps(np.asarray(m.predict(x)).tolist()))\n")
    splits = data.load("synthetic", "", 0.1, 0)
    x = splits.x_test[:4]
    given = splits.as_given(x)  # uint8 (N, 20, 10): the images as the user has them
    assert given.dtype == np.uint8 and given.shape == (4, 20, 10)
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps(given.tolist()),
                          env=_clean_env(uri), cwd=folder, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    got = np.asarray(json.loads(done.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(got, first.pruned_model.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mlflow_models_serve_answers_with_the_model(registered):
    uri, folder, first, _, _ = registered
    port = _free_port()
    server = subprocess.Popen(["mlflow", "models", "serve", "-m", f"models:/{first.model_id}",
                               "--env-manager", "local", "--host", "127.0.0.1", "-p",
                               str(port)], env=_clean_env(uri), cwd=folder,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        splits = data.load("synthetic", "", 0.1, 0)
        x = splits.x_test[:3]
        body = json.dumps({"inputs": splits.as_given(x).tolist()}).encode()  # raw pixels
        deadline, answer = time.time() + 180, None
        while time.time() < deadline and answer is None:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", body,
                                                 {"Content-Type": "application/json"})
                answer = json.loads(urllib.request.urlopen(request, timeout=30).read())
            except OSError:
                time.sleep(1)
        assert answer is not None, "the server never answered"
        np.testing.assert_allclose(np.asarray(answer["predictions"]),
                                   first.pruned_model.predict(x, verbose=0), rtol=1e-5,
                                   atol=1e-6)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_study_moves_the_champion_alias_to_its_best(store, tmp_path):
    base = ExperimentConfig(**{**CONFIG, "pretrain_epochs": 1})
    config = TuneConfig(n_trials=2, search="retrain_epochs=int:1:2; power=float:1:4",
                        study_name="champ", storage=f"sqlite:///{tmp_path / 'o.db'}",
                        trial_pruner="none")
    result = tune.run_study(base, config, experiment_name="t", register_model="tuned")
    client = MlflowClient()
    champion = client.get_model_version_by_alias("tuned", "champion")
    best_run = client.get_run(result.parent_run_id).data.tags["best_run_id"]
    assert champion.run_id == best_run
    assert champion.tags["test_accuracy"] == f"{result.test_accuracy:.6g}"
    # the trials skip the export; the champion was shipped in full before registering
    for tag in ("sparsity", "test_accuracy", "tflite_int8_test_accuracy",
                "tflite_int8_bytes_gzip", "size_reduction", "int8_latency_us",
                "final_val_accuracy", "data_digest"):
        assert tag in champion.tags, tag
    assert "alias `champion` moved to it: no champion yet" in result.registered
    trials = [r for r in client.search_runs([client.get_experiment_by_name("t").experiment_id])
              if r.data.tags.get("pruning.role") == "experiment"]
    names = sorted(r.info.run_name for r in trials)
    assert names[0].startswith("#0 start ep") and names[1].startswith("#1 ep")
    for run in trials:  # each note is titled with its own run's name
        assert run.data.tags["mlflow.note.content"].startswith(f"**{run.info.run_name}**")
    assert "Optuna study `champ`" in client.get_run(result.parent_run_id).data.tags[
        "mlflow.note.content"]


def test_registering_the_same_champion_again_adds_no_version(registered):
    from pruning import tracking

    _, _, first, _, client = registered
    a = tracking.register(first.model_id, "again", first.metrics, "d", alias="champion")
    b = tracking.register(first.model_id, "again", first.metrics, "d", alias="champion")
    assert a == b and len(client.search_model_versions("name='again'")) == 1
