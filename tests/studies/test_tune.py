"""Optuna studies against a real temporary MLflow store and Optuna storage."""
import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from pruning.studies import search_space
from pruning.studies import tune
from pruning.config import ExperimentConfig
from pruning.studies.configs import TuneConfig
from pruning.errors import ConfigError

from tests.conftest import use_store

SPACE = "retrain_epochs=int:1:3; frequency=int:1:3; power=float:1:4"
BASE = dict(dataset="synthetic", pretrain_epochs=1, batch_size=64, frequency=1)
BASE_FLAGS = ["--dataset", "synthetic", "--pretrain-epochs", "1", "--batch-size", "64",
              "--frequency", "1", "--search", "retrain_epochs=int:1:3",
              "--search", "frequency=int:1:3"]


def _runs(role=None):
    client = MlflowClient()
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return [r for r in runs if role is None or r.data.tags.get("pruning.role") == role]


def _download(run_id, path):
    return MlflowClient().download_artifacts(run_id, path)


def _artifacts(run_id, path=""):
    client, out = MlflowClient(), []
    for item in client.list_artifacts(run_id, path):
        out += _artifacts(run_id, item.path) if item.is_dir else [item.path]
    return out


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A 4-trial study, then resumed for 2 more."""
    folder = tmp_path_factory.mktemp("study")
    with use_store(folder):
        base = ExperimentConfig(**BASE)
        config = TuneConfig(n_trials=4, search=SPACE, study_name="s",
                            storage=f"sqlite:///{folder / 'optuna.db'}")
        first = tune.run_study(base, config, experiment_name="tune")
        resumed = tune.run_study(base, config.__class__(**{**config.to_dict(), "n_trials": 2}),
                                 experiment_name="tune")
        yield base, config, first, resumed, folder


def test_every_trial_is_a_child_run_of_one_parent(study):
    _, config, first, resumed, _ = study
    assert first.parent_run_id == resumed.parent_run_id  # resume keeps the parent
    (parent,) = _runs("study")
    trials = _runs("experiment")
    assert len(trials) == 6 == resumed.n_trials
    assert {r.data.tags["mlflow.parentRunId"] for r in trials} == {parent.info.run_id}
    assert sorted(int(r.data.tags["trial_number"]) for r in trials) == list(range(6))
    for run in trials:
        assert run.data.tags["trial_state"] in ("complete", "pruned")
        assert run.info.status == "FINISHED"
        # each trial's full resolved config, and the dense model it started from
        assert run.data.params["dataset"] == "synthetic" and "resolved_end_step" in run.data.params
        assert run.data.tags["pretrain_cached"] == "true"
    assert len({r.data.tags["pretrain_run_id"] for r in trials}) == 1  # pre-trained once


def test_parent_has_the_study_and_the_best(study):
    base, config, _, resumed, folder = study
    parent = MlflowClient().get_run(resumed.parent_run_id)
    assert parent.data.params["trial_pruner"] == "median"
    assert parent.data.params["sampler"] == "tpe" and parent.data.params["study_name"] == "s"
    assert search_space.parse(parent.data.params["search"]) == search_space.parse(config.search)
    assert parent.data.params["storage"] == config.storage
    metrics = parent.data.metrics
    assert metrics["n_trials"] == 6 and metrics["best_value"] == resumed.best_values[0][0]
    assert 0 <= metrics["best_test_accuracy"] <= 1
    # the test set's figure and the run it belongs to travel in one tag (workers race on it)
    cached = json.loads(parent.data.tags["best_test"])
    assert cached == {"run_id": parent.data.tags["best_run_id"],
                      "accuracy": metrics["best_test_accuracy"]}
    files = set(_artifacts(resumed.parent_run_id))
    assert {"best_config.toml", "best_params.json", "plots/optimization_history.png",
            "plots/parallel_coordinate.png", "plots/param_importances.png"} <= files


def test_best_config_reproduces_the_best_trial(study):
    _, _, _, resumed, folder = study
    path = MlflowClient().download_artifacts(resumed.parent_run_id, "best_config.toml",
                                             str(folder))
    config = ExperimentConfig.load(path)
    assert config == resumed.best_config
    best_run = MlflowClient().get_run(MlflowClient().get_run(
        resumed.parent_run_id).data.tags["best_run_id"])
    assert best_run.data.metrics["final_val_accuracy"] == resumed.best_values[0][0]
    assert best_run.data.params["retrain_epochs"] == str(config.retrain_epochs)
    # the best trial keeps its model; every trial keeps its final masks
    assert best_run.outputs.model_outputs  # MLflow 3: a LoggedModel linked to the run
    for run in _runs("experiment"):
        if run.data.tags["trial_state"] == "complete":
            assert "masks/final.npz" in _artifacts(run.info.run_id)


def test_trials_never_touch_the_test_set(study):
    for run in _runs("experiment"):
        assert "test_accuracy" not in run.data.metrics


def test_space_parsing_and_merging():
    dims = search_space.parse("retrain_epochs=int:2:12; frequency=int:25:400:log; "
                              "schedule=cat:polynomial_decay|constant_sparsity")
    assert dims["frequency"].log and dims["schedule"].choices == ("polynomial_decay",
                                                                  "constant_sparsity")
    assert search_space.parse(search_space.format_space(dims)) == dims
    merged = search_space.merge(SPACE, ["final_sparsity=float:0.5:0.95", "power=off"])
    assert set(search_space.parse(merged)) == {"retrain_epochs", "frequency", "final_sparsity"}


@pytest.mark.parametrize("space,fragment", [
    ("epochs=int:1:3", "'epochs' is not an experiment parameter"),
    ("pretrain_epochs=int:1:3", "changes the dense pre-training"),
    ("power=float:3:1", "cannot read"),
    ("power=float:0:1:log", "cannot read"),
])
def test_bad_space_names_the_parameter(space, fragment):
    with pytest.raises(ConfigError, match=fragment) as info:
        TuneConfig(search=space)
    assert info.value.parameter == "search"


def test_pareto_needs_no_trial_pruner():
    with pytest.raises(ConfigError, match="trial_pruner must be none"):
        TuneConfig(objective="pareto")


def test_pareto_study_logs_front(store, tmp_path):
    base = ExperimentConfig(**BASE)
    config = TuneConfig(n_trials=3, search=SPACE, objective="pareto", trial_pruner="none",
                        storage=f"sqlite:///{tmp_path / 'p.db'}")
    result = tune.run_study(base, config)
    parent = _runs("study")[0]
    assert "final_sparsity" in parent.data.params["search"]  # searched in Pareto mode
    assert result.best_values and all(len(v) == 2 for v in result.best_values)
    files = set(_artifacts(parent.info.run_id))
    assert {"pareto_front.md", "plots/pareto_front.png"} <= files


def test_pareto_latency_searches_weight_against_channel_pruning(store, tmp_path):
    base = ExperimentConfig(**{**BASE, "model": "cnn", "retrain_epochs": 1},
                            latency_runs=5, latency_window=0, calibration_samples=16)
    storage = f"sqlite:///{tmp_path / 'l.db'}"
    study = optuna.create_study(study_name="lat", storage=storage,
                                directions=["maximize", "minimize"])
    for granularity in ("weight", "channel"):  # both kinds, whatever the sampler draws
        study.enqueue_trial({"granularity": granularity, "final_sparsity": 0.75})
    config = TuneConfig(n_trials=2, study_name="lat", storage=storage, objective="pareto",
                        pareto_metric="latency", trial_pruner="none",
                        search="granularity=cat:weight|channel")
    tune.run_study(base, config)
    parent = _runs("study")[0]
    assert "final_sparsity=float:0.5:0.98" in parent.data.params["search"]
    done = optuna.load_study(study_name="lat", storage=storage).get_trials(
        states=(optuna.trial.TrialState.COMPLETE,))
    assert {t.params["granularity"] for t in done} == {"weight", "channel"}
    by_trial = {int(r.data.tags["trial_number"]): r.data for r in _runs("experiment")}
    for trial in done:
        assert trial.values[1] == by_trial[trial.number].metrics["int8_latency_us"] > 0
    runs = {by_trial[t.number].params["granularity"]: by_trial[t.number].metrics for t in done}
    # removing 75% of the channels leaves far fewer multiply-adds than zeros do
    assert runs["channel"]["flops"] < 0.2 * runs["weight"]["flops"]
    assert "int8_latency_us" in open(_download(parent.info.run_id, "pareto_front.md")).read()


def test_diverging_trial_is_failed_and_the_study_goes_on(store, tmp_path):
    storage = f"sqlite:///{tmp_path / 'nan.db'}"
    study = optuna.create_study(study_name="nan", storage=storage, direction="maximize")
    study.enqueue_trial({"retrain_epochs": 1, "frequency": 1, "power": 2.0,
                         "retrain_lr": 1e12})
    config = TuneConfig(n_trials=3, study_name="nan", storage=storage, trial_pruner="none",
                        search=SPACE + "; retrain_lr=float:1e-4:1e12:log")
    result = tune.run_study(ExperimentConfig(**BASE, lr_schedule="constant"), config)
    trials = optuna.load_study(study_name="nan", storage=storage).trials
    assert len(trials) == 3 == result.n_trials
    assert trials[0].state == optuna.trial.TrialState.FAIL
    failed = [r for r in _runs("experiment") if r.data.tags["trial_number"] == "0"]
    assert failed[0].info.status == "FAILED" and failed[0].data.tags["trial_state"] == "failed"
    assert "loss became" in failed[0].data.tags["error"]


def _worker(folder, study_name, n_trials, *extra):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}
    for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(var, None)
    return subprocess.Popen(
        [sys.executable, "-m", "pruning", "tune", *BASE_FLAGS, "--study-name", study_name,
         "--storage", f"sqlite:///{folder / 'optuna.db'}", "--n-trials", str(n_trials),
         "--trial-pruner", "none", *extra], env=env, cwd=folder,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_workers_share_one_study(tmp_path):
    workers = [_worker(tmp_path, "shared", 3) for _ in range(2)]
    for w in workers:
        out, err = w.communicate(timeout=900)
        assert w.returncode == 0, err[-3000:]
    with use_store(tmp_path):
        trials = optuna.load_study(study_name="shared",
                                   storage=f"sqlite:///{tmp_path / 'optuna.db'}").trials
        assert len(trials) == 6
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
        runs = _runs("experiment")
        assert sorted(int(r.data.tags["trial_number"]) for r in runs) == list(range(6))
        (parent,) = _runs("study")
        assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {parent.info.run_id}
        assert len(_runs("pretrain")) == 1


def test_mlflow_run_tune_entry_point(tmp_path):
    root = str(Path(__file__).resolve().parents[2])  # the checkout, with MLproject
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(var, None)
    params = ["dataset=synthetic", "pretrain_epochs=1", "batch_size=64", "frequency=1",
              "n_trials=2", "trial_pruner=none", f"search={SPACE}",
              f"storage=sqlite:///{tmp_path / 'optuna.db'}"]
    done = subprocess.run(["mlflow", "run", root, "-e", "tune", "--env-manager", "local",
                           *[x for p in params for x in ("-P", p)]], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    with use_store(tmp_path):
        (parent,) = _runs("study")
        assert parent.data.tags["mlflow.project.entryPoint"] == "tune"  # mlflow run's own run
        assert parent.info.status == "FINISHED"
        trials = _runs("experiment")
        assert len(trials) == 2
        assert {r.data.tags["mlflow.parentRunId"] for r in trials} == {parent.info.run_id}
