"""deploy/: each file as its own tool renders it (`docker-compose config`, `kubectl
kustomize`), and every worker command in it is one `pruning tune` accepts, against the
storage and the server the files themselves define. No engine or cluster runs here:
nothing is started, pulled or applied."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pruning import cli
from pruning.studies.configs import TuneConfig

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _rendered(*cmd: str) -> dict:
    """What the tool itself makes of the file. CI installs the tools (.ci/run); a developer
    machine without them skips, CI never does."""
    if not shutil.which(cmd[0]):
        if os.environ.get("CI"):
            pytest.fail(f"{cmd[0]} is missing: .ci/run installs it")
        pytest.skip(f"{cmd[0]} is not installed")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def _tune_args(argv):
    args = cli.build_parser().parse_args(cli.dashes(argv))
    assert args.command == "tune"
    return args, cli.config_from_args(args, TuneConfig)


def test_compose_runs_workers_against_its_own_postgres_and_mlflow():
    # Debian's docker-compose (1.29) reads the Compose Specification like `docker compose`.
    compose = _rendered("docker-compose", "-p", "pruning", "-f",
                        str(DEPLOY / "docker-compose.yml"), "config")
    services = compose["services"]
    assert {"postgres", "mlflow", "worker"} <= set(services)
    server = services["mlflow"]["command"]
    assert any(a.startswith("--artifacts-destination=") for a in server)  # proxied artifacts
    assert any("@postgres:5432/mlflow" in a for a in server)
    assert services["mlflow"]["entrypoint"] == ["mlflow", "server"]
    args, study = _tune_args(services["worker"]["command"])
    assert study.storage.startswith("postgresql+psycopg://") and "@postgres:5432/optuna" in \
        study.storage
    assert services["worker"]["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert services["worker"]["deploy"]["replicas"] >= 2
    waits = services["worker"]["depends_on"]
    assert {s: c["condition"] for s, c in waits.items()} == {
        "postgres": "service_healthy", "mlflow": "service_healthy"}
    init = (DEPLOY / "postgres-init.sql").read_text()
    assert "CREATE DATABASE optuna" in init


def test_k8s_job_is_indexed_and_parallel():
    job = _rendered("kubectl", "kustomize", str(DEPLOY / "k8s"))  # one document: the Job
    assert job["kind"] == "Job" and job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["parallelism"] == job["spec"]["completions"] >= 2
    (container,) = job["spec"]["template"]["spec"]["containers"]
    args, study = _tune_args(container["args"])
    assert study.storage == "$(OPTUNA_STORAGE)"  # filled in by Kubernetes from the Secret
    env = {e["name"] for e in container["env"]}
    assert {"MLFLOW_TRACKING_URI", "OPTUNA_STORAGE"} <= env
