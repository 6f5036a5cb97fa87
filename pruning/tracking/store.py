"""Where runs go, and how a person gets to them.

- `check_store` fails fast (one message, no run) on an unusable tracking URI and
  tags the experiment as model training, so the MLflow UI shows its training view;
  `open_meanwhile` starts it on a thread while the caller loads TensorFlow.
- `run_link` / `where_to_look` give the full URL of a run (or experiment), or for a
  local store the exact `mlflow ui` command and the URL it will serve.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from pruning.errors import TrackingError, UserError
from pruning.console import say
from pruning.tracking import new_store, outage

# The MLflow 3 UI opens every experiment in its GenAI layout; this tag and the URL
# parameter below switch it to the model-training view (the tag alone did not, in 3.17).
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
TRAINING_VIEW = "workflowType=machine_learning"
LOCAL_UI = "http://127.0.0.1:5000"  # where `mlflow ui` serves by default


def use_tracking_uri(tracking_uri: str | None) -> None:
    """The store the user named (`--tracking-uri`), for every read from now on: a starting
    model given as runs:/ or models:/ is fetched before any run opens, from that store."""
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)


def check_store(experiment_name: str | None = None, tracking_uri: str | None = None,
                default: str | None = None) -> None:
    """Raise TrackingError unless the tracking store answers (no retries, short timeout).
    The experiment: `experiment_name`, else the one the environment or the Python caller
    chose (MLFLOW_EXPERIMENT_NAME/_ID, `mlflow run`, mlflow.set_experiment), else
    `default` (named for what it holds, never MLflow's Default)."""
    use_tracking_uri(tracking_uri)
    uri = mlflow.get_tracking_uri()
    try:
        with _sqlite_init_lock(uri), outage.fail_fast(timeout=10):
            if (path := new_store.sqlite_path(uri)) is not None:
                new_store.create(path)  # a copy of MLflow's empty tables, not its migrations
            retry(lambda: MlflowClient().search_experiments(max_results=1))
    except Exception as e:  # any failure here means the store is unusable
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TrackingError(
            f"tracking URI {uri!r} is unusable ({first[:300]}). Set MLFLOW_TRACKING_URI to a "
            "reachable server (http://host:port), a database (sqlite:///path/mlflow.db) or "
            "leave it unset for ./mlflow.db") from None
    if uri.startswith(("http://", "https://")):
        outage.report_retries(say)
    else:
        _refuse_a_servers_database(uri)
    experiment_name = experiment_name or (None if chosen_elsewhere() else default)
    if experiment_name:
        experiment = mlflow.set_experiment(experiment_name)
        if current_experiment_id() != experiment.experiment_id:
            # MLflow returns without activating the experiment when another process
            # created it a moment before (workers starting together); runs would land in
            # Default. Now it exists, the second call activates it.
            mlflow.set_experiment(experiment_name)
    mark_training(current_experiment_id())


def open_meanwhile(experiment_name: str | None = None, tracking_uri: str | None = None,
                   default: str | None = None) -> threading.Thread | None:
    """check_store on a thread, for a local sqlite store (None for any other): importing
    MLflow's store and opening it (a new one copied, or migrated when the copy cannot be
    made) take time that then passes while the caller imports TensorFlow. The caller
    joins the thread, then calls check_store itself (quick now), which reports any
    error; this thread only drops them."""
    if new_store.sqlite_path(tracking_uri or mlflow.get_tracking_uri()) is None:
        return None

    def quietly():
        with contextlib.suppress(Exception):
            check_store(experiment_name, tracking_uri, default)

    thread = threading.Thread(target=quietly, name="pruning-store", daemon=True)
    thread.start()
    return thread


def _refuse_a_servers_database(uri: str) -> None:
    """A store an `mlflow server` proxies artifacts for (`--artifacts-destination`) keeps
    them at mlflow-artifacts:/ locations, which only that server can read or write: opened
    through its database instead, the first cached model or logged file fails deep inside
    MLflow. Refuse before any run starts, naming the way in."""
    served = [e for e in MlflowClient().search_experiments(max_results=200)
              if (e.artifact_location or "").startswith("mlflow-artifacts:")]
    if served:
        raise TrackingError(
            f"tracking URI {uri!r} is the database of an MLflow server: its experiments "
            f"(e.g. {served[0].name!r}) keep their artifacts at "
            f"{served[0].artifact_location!r}, which only the server serves. Use the "
            "server's URL (--tracking-uri http://host:port)")


def chosen_elsewhere() -> bool:
    """Whether the environment, `mlflow run` or the Python caller chose an experiment."""
    return bool(any(os.environ.get(v) for v in ("MLFLOW_EXPERIMENT_NAME",
                                                 "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"))
                or mlflow.tracking.fluent._active_experiment_id)


def latest_experiment() -> str | None:
    """MLFLOW_EXPERIMENT_NAME, else the experiment this package wrote to last (it tags
    every one it writes to), else None."""
    if os.environ.get("MLFLOW_EXPERIMENT_NAME"):
        return os.environ["MLFLOW_EXPERIMENT_NAME"]
    key, value = EXPERIMENT_KIND
    ours = MlflowClient().search_experiments(filter_string=f"tags.`{key}` = '{value}'",
                                             order_by=["last_update_time DESC"])
    runs = [(MlflowClient().search_runs([e.experiment_id], max_results=1,
                                        order_by=["attributes.start_time DESC"]), e.name)
            for e in ours]
    dated = [(r[0].info.start_time, name) for r, name in runs if r]
    return max(dated)[1] if dated else None


def current_experiment_id() -> str:
    return mlflow.tracking.fluent._get_experiment_id()


def mark_training(experiment_id: str) -> None:
    """Tag an experiment this package writes to as model training (once)."""
    client = MlflowClient()
    key, value = EXPERIMENT_KIND
    if client.get_experiment(experiment_id).tags.get(key) == value:
        return
    try:
        client.set_experiment_tag(experiment_id, key, value)
    except Exception:
        # Workers starting together on a new experiment all tag it; the store's insert
        # of the same new tag fails for all but one. One write is all it takes.
        if client.get_experiment(experiment_id).tags.get(key) != value:
            raise


@contextlib.contextmanager
def _sqlite_init_lock(uri: str):
    """One process at a time creates a new sqlite store's tables: MLflow's migrations
    break a database that two workers start to create together."""
    path = new_store.sqlite_path(uri)
    if path is None:
        yield
        return
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def retry(call, attempts: int = 3, pause: float = 1.0):
    """Workers started together on a new sqlite store race to create its tables; the
    loser's error is transient, so try again before calling the store unusable. Bad
    input is not transient: it is raised at once."""
    for attempt in range(attempts):
        try:
            return call()
        except UserError:
            raise
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(pause)


def _ui_base(uri: str) -> tuple[str, str | None]:
    """(base URL of the UI, the command that serves it, or None for a server)."""
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/"), None
    if uri.startswith("sqlite:///") or "://" in uri:
        store = uri
        if uri.startswith("sqlite:///"):  # absolute, so the command works from anywhere
            store = f"sqlite:///{Path(uri[len('sqlite:///'):]).resolve()}"
        return LOCAL_UI, f"mlflow ui --backend-store-uri {store}"
    return LOCAL_UI, f"mlflow ui --backend-store-uri {Path(uri).resolve()}"


def run_link(run_id: str) -> str:
    """The run's page in the UI's model-training view."""
    experiment_id = MlflowClient().get_run(run_id).info.experiment_id
    base, _ = _ui_base(mlflow.get_tracking_uri())
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?{TRAINING_VIEW}"


def experiment_link(experiment_id: str) -> str:
    base, _ = _ui_base(mlflow.get_tracking_uri())
    return f"{base}/#/experiments/{experiment_id}?{TRAINING_VIEW}"


def where_to_look(run_id: str) -> str:
    """What a command prints last: the run's URL, and for a local store how to serve it."""
    _, command = _ui_base(mlflow.get_tracking_uri())
    link = run_link(run_id)
    if command is None:
        return f"MLflow run {run_id}: {link}"
    return f"MLflow run {run_id}: run `{command}`, then open {link}"
