import contextlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Short test runs still record CPU and memory (a tiny pre-training lasts about a second).
os.environ.setdefault("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.25")

import ipaddress  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

# No test may open a connection off loopback: servers under test listen on 127.0.0.1, and
# a download (Keras' dataset fetchers) must fail here, not reach the internet. This
# process: an audit hook refuses the connect; its subprocesses: a dead loopback proxy.
_DEAD_PROXY = "http://127.0.0.1:9"
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
    os.environ[_var] = _DEAD_PROXY
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost,::1"


def _loopback_only(event, args):
    if event != "socket.connect":
        return
    sock, address = args
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # unix sockets (PostgreSQL's, local IPC)
    host = address[0]
    try:
        loopback = ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ConnectionRefusedError(f"tests may not connect off loopback (to {host})")


sys.addaudithook(_loopback_only)

import pruning  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before any TensorFlow import)


@contextlib.contextmanager
def use_store(folder):
    """A real, empty MLflow store (sqlite + local artifacts) in `folder`, for this process
    and the subprocesses it starts."""
    import mlflow
    from pruning.tracking import new_store

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    new_store.create(folder / "mlflow.db")  # as the CLI makes one: MLflow's tables, copied
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.chdir(folder)  # artifacts land in folder/mlruns
    for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        mp.delenv(var, raising=False)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("tests")  # forget any experiment chosen against another store
    try:
        yield uri
    finally:
        while mlflow.active_run():
            mlflow.end_run()
        mlflow.set_tracking_uri(None)
        mp.undo()


@pytest.fixture(scope="session", autouse=True)
def empty_store_cache(tmp_path_factory):
    """Where the empty MLflow store that new stores copy is made (once a session, in
    this process or the first subprocess to need it), rather than the user's cache."""
    from pruning.tracking.new_store import CACHE_DIR

    mp = pytest.MonkeyPatch()
    mp.setenv(CACHE_DIR, str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture
def store(tmp_path):
    with use_store(tmp_path) as uri:
        yield uri


@pytest.fixture
def tiny():
    """The smallest config that exercises the whole path (synthetic 20x10 data)."""
    from pruning.config import ExperimentConfig

    return ExperimentConfig(dataset="synthetic", model="mlp", pretrain_epochs=2,
                            retrain_epochs=2, batch_size=64, frequency=1, latency_runs=5,
                            latency_window=0, calibration_samples=16)
