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
from pruning.studies.configs import ProxyConfig, TuneConfig

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SECRET_FORM = "postgresql+psycopg://USER:PASSWORD@HOST:5432/optuna"  # as tune-job.yaml says


def _rendered(*cmd: str) -> dict:
    return yaml.safe_load(_output(*cmd))


def _output(*cmd: str) -> str:
    """What the tool itself makes of the file. CI installs the tools (.ci/run); a developer
    machine without them skips, CI never does."""
    if not shutil.which(cmd[0]):
        if os.environ.get("CI"):
            pytest.fail(f"{cmd[0]} is missing: .ci/run installs it")
        pytest.skip(f"{cmd[0]} is not installed")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _rendered_all(*cmd: str) -> list[dict]:
    """Every document of a multi-document rendering."""
    return [d for d in yaml.safe_load_all(_output(*cmd)) if d]


def _proxy_config(argv):
    args = cli.build_parser().parse_args(cli.dashes(argv))
    assert args.command == "storage-proxy"
    return ProxyConfig.from_dict({k: v for k, v in vars(args).items()
                                  if k in ProxyConfig.__dataclass_fields__})


def _tune_args(argv):
    args = cli.build_parser().parse_args(cli.dashes(argv))
    assert args.command == "tune"
    return args, cli.config_from_args(args, TuneConfig)


def test_compose_runs_workers_against_its_own_postgres_and_mlflow():
    # Debian's docker-compose (1.29) reads the Compose Specification like `docker compose`.
    compose = _rendered("docker-compose", "-p", "pruning", "-f",
                        str(DEPLOY / "docker-compose.yml"), "config")
    services = compose["services"]
    assert {"postgres", "mlflow", "optuna-proxy", "worker"} <= set(services)
    server = services["mlflow"]["command"]
    assert any(a.startswith("--artifacts-destination=") for a in server)  # proxied artifacts
    assert any("@postgres:5432/mlflow" in a for a in server)
    assert services["mlflow"]["entrypoint"] == ["mlflow", "server"]
    proxy = _proxy_config(services["optuna-proxy"]["command"])
    assert proxy.storage.startswith("postgresql+psycopg://") and "@postgres:5432/optuna" in \
        proxy.storage and proxy.host == "0.0.0.0"
    args, study = _tune_args(services["worker"]["command"])
    assert study.storage == f"grpc://optuna-proxy:{proxy.port}"  # through the proxy
    assert services["worker"]["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert services["worker"]["deploy"]["replicas"] >= 2
    waits = services["worker"]["depends_on"]
    assert {s: c["condition"] for s, c in waits.items()} == {
        "optuna-proxy": "service_healthy", "mlflow": "service_healthy"}
    assert str(proxy.port) in " ".join(services["optuna-proxy"]["healthcheck"]["test"])
    init = (DEPLOY / "postgres-init.sql").read_text()
    assert "CREATE DATABASE optuna" in init


def test_k8s_job_is_indexed_and_parallel_and_reaches_the_study_through_the_proxy():
    docs = {d["kind"]: d for d in _rendered_all("kubectl", "kustomize", str(DEPLOY / "k8s"))}
    job, deployment, service = docs["Job"], docs["Deployment"], docs["Service"]
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["parallelism"] == job["spec"]["completions"] >= 2
    (container,) = job["spec"]["template"]["spec"]["containers"]
    args, study = _tune_args(container["args"])
    (port,) = service["spec"]["ports"]
    assert study.storage == f"grpc://{service['metadata']['name']}:{port['port']}"
    assert {e["name"] for e in container["env"]} == {"MLFLOW_TRACKING_URI"}
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
    (proxy_container,) = deployment["spec"]["template"]["spec"]["containers"]
    # Kubernetes fills $(OPTUNA_STORAGE) in from the Secret, a URL of this form:
    assert "--storage=$(OPTUNA_STORAGE)" in proxy_container["args"]
    proxy = _proxy_config([a.replace("$(OPTUNA_STORAGE)", SECRET_FORM)
                           for a in proxy_container["args"]])
    assert proxy.host == "0.0.0.0"
    (container_port,) = proxy_container["ports"]
    assert container_port["containerPort"] == proxy.port
    assert port["targetPort"] == container_port["name"]
    secret = proxy_container["env"][0]["valueFrom"]["secretKeyRef"]
    assert (secret["name"], secret["key"]) == ("pruning-db", "optuna-url")
