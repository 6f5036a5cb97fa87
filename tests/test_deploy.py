"""deploy/: the files parse, and every worker command in them is one `pruning tune`
accepts, against the storage and the server the files themselves define. (Docker and a
cluster do not run here: `docker compose config` and `kubectl apply` were not run.)"""
from pathlib import Path

import yaml

from pruning import cli
from pruning.search_configs import TuneConfig

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def _tune_args(argv):
    args = cli.build_parser().parse_args(cli._dashes(argv))
    assert args.command == "tune"
    return args, cli.config_from_args(args, TuneConfig)


def test_compose_runs_workers_against_its_own_postgres_and_mlflow():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "mlflow", "worker"} <= set(services)
    server = services["mlflow"]["command"]
    assert any(a.startswith("--artifacts-destination=") for a in server)  # proxied artifacts
    assert any("@postgres:5432/mlflow" in a for a in server)
    args, study = _tune_args(services["worker"]["command"])
    assert study.storage.startswith("postgresql+psycopg://") and "@postgres:5432/optuna" in \
        study.storage
    assert services["worker"]["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert services["worker"]["deploy"]["replicas"] >= 2
    init = (DEPLOY / "postgres-init.sql").read_text()
    assert "CREATE DATABASE optuna" in init


def test_k8s_job_is_indexed_and_parallel():
    job = yaml.safe_load((DEPLOY / "k8s" / "tune-job.yaml").read_text())
    assert job["kind"] == "Job" and job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["parallelism"] == job["spec"]["completions"] >= 2
    (container,) = job["spec"]["template"]["spec"]["containers"]
    args, study = _tune_args(container["args"])
    assert study.storage == "$(OPTUNA_STORAGE)"  # filled in by Kubernetes from the Secret
    env = {e["name"] for e in container["env"]}
    assert {"MLFLOW_TRACKING_URI", "OPTUNA_STORAGE"} <= env
