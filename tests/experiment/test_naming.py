"""Runs land in an experiment named for what they hold, never MLflow's Default, unless
the user or the environment chose one."""
import os
import subprocess
import sys

from mlflow.tracking import MlflowClient

TINY = ["--dataset", "synthetic", "--pretrain-epochs", "1", "--retrain-epochs", "1",
        "--batch-size", "64", "--frequency", "1", "--latency-runs", "5",
        "--latency-window", "0", "--calibration-samples", "16"]


def _pruning(tmp_path, *argv, **env):
    clean = {k: v for k, v in os.environ.items()
             if k not in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME")}
    clean.update(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}", **env)
    return subprocess.run([sys.executable, "-m", "pruning", *argv], cwd=tmp_path, env=clean,
                          capture_output=True, text=True, timeout=600)


def test_a_run_with_no_experiment_named_lands_in_one_named_for_its_data_and_model(tmp_path):
    done = _pruning(tmp_path, "run", *TINY)
    assert done.returncode == 0, done.stderr[-2000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("synthetic-mlp")
    assert experiment is not None
    assert f"/#/experiments/{experiment.experiment_id}/runs/" in done.stdout  # the link
    names = {r.info.run_name for r in client.search_runs([experiment.experiment_id])}
    assert any(n.startswith("pretrain-") for n in names) and "mlp-synthetic-50%to90%" in names
    default = client.get_experiment_by_name("Default")
    assert default is None or not client.search_runs([default.experiment_id])


def test_the_environment_still_chooses(tmp_path):
    done = _pruning(tmp_path, "run", *TINY, MLFLOW_EXPERIMENT_NAME="mine")
    assert done.returncode == 0, done.stderr[-2000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert client.get_experiment_by_name("synthetic-mlp") is None
    assert client.search_runs([client.get_experiment_by_name("mine").experiment_id])
