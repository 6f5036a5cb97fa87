"""Everything MLflow: the one module that imports mlflow.

- `check_store` fails fast (one message, no run) on an unusable tracking URI.
- `experiment_run` opens the run of one experiment (honouring `mlflow run`'s
  MLFLOW_RUN_ID) and closes it FINISHED, FAILED or KILLED.
- `RunObserver` is the training observer that logs one metric batch per
  epoch and the mask snapshots.
- The dense-model cache is the store itself: a pre-training is a run of its
  own, tagged with its key, holding the dense model; any process that shares
  the store finds it with `find_pretrained`.
- Tuning and sweeps: one parent run (`study_run`, or an experiment run for a
  sweep) with nested children (`child_run`, or experiment runs with a parent).
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from . import masks as mask_math
from .errors import TrackingError
from .export import save_h5
from .train import Observer

# Tag telling what a run is: experiment (also each tuning trial), pretrain, study,
# study_worker, sweep, sweep_point or report.
ROLE = "pruning.role"
MAX_PARAMS_PER_BATCH = 100  # MLflow's limit for one log_batch call
PRETRAIN_POLL_SECONDS = 3  # how often a process waiting for another's pre-training looks
PRETRAIN_STALE_SECONDS = 1800  # a RUNNING pre-training silent this long is taken as dead


def check_store(experiment_name: str | None = None, tracking_uri: str | None = None) -> None:
    """Raise TrackingError unless the tracking store answers (no retries, short timeout)."""
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    uri = mlflow.get_tracking_uri()
    saved = {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES",
                                            "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="10")
    try:
        with _sqlite_init_lock(uri):
            retry(lambda: MlflowClient().search_experiments(max_results=1))
    except Exception as e:  # any failure here means the store is unusable
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TrackingError(
            f"tracking URI {uri!r} is unusable ({first[:300]}). Set MLFLOW_TRACKING_URI to a "
            "reachable server (http://host:port), a database (sqlite:///path/mlflow.db) or "
            "leave it unset for ./mlflow.db") from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if experiment_name:
        mlflow.set_experiment(experiment_name)


@contextlib.contextmanager
def _sqlite_init_lock(uri: str):
    """One process at a time creates a new sqlite store's tables: MLflow's migrations
    break a database that two workers start to create together."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    path = Path(uri[len("sqlite:///"):])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def retry(call, attempts: int = 3, pause: float = 1.0):
    """Workers started together on a new sqlite store race to create its tables; the
    loser's error is transient, so try again before calling the store unusable."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(pause)


def _flat_params(values: dict) -> list[Param]:
    return [Param(k, "auto" if v is None else str(v)) for k, v in values.items()]


def _log_params(client: MlflowClient, run_id: str, values: dict) -> None:
    """Log params not yet on the run. `mlflow run` logs the MLproject parameters itself,
    as typed (".9", "''"); MLflow forbids changing a param, so those stay."""
    existing = client.get_run(run_id).data.params
    params = [p for p in _flat_params(values) if p.key not in existing]
    for i in range(0, len(params), MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, params=params[i: i + MAX_PARAMS_PER_BATCH])


def log_epoch(client: MlflowClient, run_id: str, step: int, metrics: dict[str, float]) -> None:
    """One epoch's metrics in one call."""
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])


def log_bytes(client: MlflowClient, run_id: str, data: bytes, artifact_path: str) -> None:
    folder, name = os.path.split(artifact_path)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        client.log_artifact(run_id, str(path), folder or None)


class RunObserver(Observer):
    """Logs each epoch as one metric batch and mask snapshots as packed npz files."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.client = MlflowClient()

    def epoch_end(self, step, metrics):
        log_epoch(self.client, self.run_id, step, metrics)

    def mask_snapshot(self, step, masks, final):
        data = mask_math.to_npz_bytes(masks)
        log_bytes(self.client, self.run_id, data, f"masks/epoch_{step:04d}.npz")
        if final:
            log_bytes(self.client, self.run_id, data, "masks/final.npz")


def _record_error(client: MlflowClient, run_id: str, error: BaseException) -> str:
    """Keep why a run ended on the run itself; return its final status."""
    interrupted = isinstance(error, KeyboardInterrupt)
    with contextlib.suppress(Exception):  # never hide the original error
        client.set_tag(run_id, "error", f"{type(error).__name__}: {error}"[:5000])
        if not interrupted:
            log_bytes(client, run_id, traceback.format_exc().encode(), "error.txt")
    return "KILLED" if interrupted else "FAILED"


@contextlib.contextmanager
def _closing(client: MlflowClient, run_id: str):
    """End a client-created run FINISHED, or FAILED/KILLED with the error kept."""
    try:
        yield
    except BaseException as e:
        client.set_terminated(run_id, _record_error(client, run_id, e))
        raise
    client.set_terminated(run_id, "FINISHED")


@contextlib.contextmanager
def experiment_run(params: dict, run_name: str, tags: dict[str, str],
                   parent_run_id: str | None = None, finished_on: tuple = ()):
    """The active MLflow run of one experiment; yields its id.

    Under `mlflow run`, MLFLOW_RUN_ID names a run that already exists; it is
    resumed, not duplicated. With `parent_run_id` the run is nested under it.
    Exceptions of a type in `finished_on` end the run FINISHED (and propagate).
    """
    resumed = bool(os.environ.get("MLFLOW_RUN_ID")) and parent_run_id is None
    run = mlflow.start_run(run_name=None if resumed else run_name,
                           nested=parent_run_id is not None, parent_run_id=parent_run_id,
                           tags={ROLE: "experiment", **tags})
    run_id, client, status = run.info.run_id, MlflowClient(), "FINISHED"
    try:
        if resumed:
            client.set_tag(run_id, "mlflow.runName", run_name)
        _log_params(client, run_id, params)
        yield run_id
    except finished_on:
        raise
    except BaseException as e:
        status = _record_error(client, run_id, e)
        raise
    finally:
        mlflow.end_run(status)


# -- the dense-model cache ----------------------------------------------------------------

@dataclass(frozen=True)
class Pretrained:
    run_id: str
    model: object  # tf_keras.Model
    history: list[dict[str, float]]
    metrics: dict[str, float]


def _pretrain_runs(client: MlflowClient, key: str) -> list:
    """Live (RUNNING, recently active) and FINISHED pre-trainings with this key, oldest first."""
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, filter_string=f"tags.pretrain_key = '{key}' and "
                              f"tags.`{ROLE}` = 'pretrain'",
                              order_by=["attributes.start_time ASC"])
    now = time.time() * 1000
    live = []
    for run in runs:
        if run.info.status == "RUNNING":
            last = max([run.info.start_time] + [m.timestamp for m in
                                                client.get_metric_history(run.info.run_id, "loss")])
            if now - last > PRETRAIN_STALE_SECONDS * 1000:
                continue  # its process died without closing it
        elif run.info.status != "FINISHED":
            continue
        live.append(run)
    return live


def find_pretrained(key: str) -> Pretrained | None:
    """The newest finished pre-training with this key, in any experiment of the store.

    While another process is still training it, wait for it rather than train it twice.
    """
    client = MlflowClient()
    while True:
        runs = _pretrain_runs(client, key)
        finished = [r for r in runs if r.info.status == "FINISHED"]
        if finished:
            break
        if not runs:
            return None
        time.sleep(PRETRAIN_POLL_SECONDS)
    import tf_keras as keras

    run = finished[-1]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(client.download_artifacts(run.info.run_id, "dense", tmp))
        model = keras.models.load_model(folder / "model.h5", compile=False)
        history = json.loads((folder / "history.json").read_text())
    return Pretrained(run.info.run_id, model, history, dict(run.data.metrics))


@contextlib.contextmanager
def pretrain_run(key: str, params: dict, run_name: str, parent_run_id: str | None):
    """A run of its own for a dense pre-training; yields a `PretrainRecorder`, or None if
    another process claimed this pre-training first (then wait with `find_pretrained`)."""
    client = MlflowClient()
    experiment_id = (client.get_run(parent_run_id).info.experiment_id if parent_run_id
                     else mlflow.tracking.fluent._get_experiment_id())
    tags = {ROLE: "pretrain", "pretrain_key": key, "mlflow.runName": run_name}
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    run = client.create_run(experiment_id, tags=tags, run_name=run_name)
    first = _pretrain_runs(client, key)[0]
    if first.info.run_id != run.info.run_id:
        client.delete_run(run.info.run_id)
        yield None
        return
    with _closing(client, run.info.run_id):
        _log_params(client, run.info.run_id, params)
        yield PretrainRecorder(run.info.run_id)


class PretrainRecorder(RunObserver):
    def save(self, model, history: list[dict], metrics: dict[str, float]) -> None:
        self.client.log_batch(self.run_id, metrics=[
            Metric(k, float(v), int(time.time() * 1000), 0) for k, v in metrics.items()])
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "dense"
            folder.mkdir()
            save_h5(model, folder / "model.h5")
            (folder / "history.json").write_text(json.dumps(history))
            self.client.log_artifacts(self.run_id, str(folder), "dense")


# -- what the experiment run receives at the end ---------------------------------------------

def log_dataset(splits) -> None:
    """The data as MLflow inputs, with the digest that also keys the dense cache."""
    for context, x, y in (("training", splits.x_train, splits.y_train),
                          ("evaluation", splits.x_test, splits.y_test)):
        source = splits.source if os.path.exists(splits.source) else None
        dataset = mlflow.data.from_numpy(x, targets=y, source=source, digest=splits.digest,
                                         name=f"{splits.name}-{context}")
        mlflow.log_input(dataset, context=context)


def log_history(run_id: str, history: list[dict[str, float]], first_step: int = 0) -> None:
    client = MlflowClient()
    for i, metrics in enumerate(history):
        log_epoch(client, run_id, first_step + i, metrics)


def log_results(run_id: str, metrics: dict[str, float], tags: dict[str, str],
                step: int = 0) -> None:
    client = MlflowClient()
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()],
                     tags=[RunTag(k, str(v)) for k, v in tags.items()])


def log_text(run_id: str, text: str, artifact_path: str) -> None:
    MlflowClient().log_text(run_id, text, artifact_path)


def log_file(run_id: str, path: Path, folder: str | None = None) -> None:
    MlflowClient().log_artifact(run_id, str(path), folder)


def log_figures(run_id: str, figures: dict[str, object]) -> None:
    client = MlflowClient()
    for path, figure in figures.items():
        client.log_figure(run_id, figure, path)


def log_keras_model(model, example: np.ndarray, name: str = "model") -> str:
    """The stripped model as an MLflow model (tensorflow flavor), loadable by pyfunc."""
    import tensorflow as tf
    import tf_keras
    from mlflow.models import infer_signature

    predictions = model.predict(example, verbose=0)
    # Given explicitly: inferring them reloads the model in a subprocess (slow).
    requirements = [f"tensorflow=={tf.__version__}", f"tf-keras=={tf_keras.__version__}"]
    info = mlflow.tensorflow.log_model(
        model, name=name, signature=infer_signature(example, predictions),
        input_example=example[:2], pip_requirements=requirements)
    return info.model_uri


# -- tuning: one parent run per study, trials as nested runs -------------------------------

def default_optuna_storage() -> str:
    """optuna.db beside the MLflow store when that is a sqlite file, else in the cwd."""
    uri = mlflow.get_tracking_uri()
    if uri.startswith("sqlite:///"):
        return f"sqlite:///{Path(uri[len('sqlite:///'):]).parent / 'optuna.db'}"
    return f"sqlite:///{Path.cwd() / 'optuna.db'}"


def study_run(study_key: str, run_name: str, params: dict, tags: dict[str, str],
              own: str | None) -> str:
    """The one parent run of a study, shared by every worker and every resume.

    `own` is the run `mlflow run -e tune` made: it becomes the parent of a new study, or
    a worker run pointing at the existing parent. Two workers starting together may both
    create a parent; both keep the oldest and the other is deleted.
    """
    client = MlflowClient()
    experiment_id = mlflow.tracking.fluent._get_experiment_id()
    query = f"tags.study_key = '{study_key}' and tags.`{ROLE}` = 'study'"

    def existing():
        return client.search_runs([experiment_id], query,
                                  order_by=["attributes.start_time ASC"], max_results=10)

    runs = existing()
    if runs:
        run_id = runs[0].info.run_id
        if own and own != run_id:
            set_tags(own, {ROLE: "study_worker", "study_parent_run_id": run_id})
        client.update_run(run_id, status="RUNNING")
        return run_id
    if own:
        set_tags(own, {ROLE: "study", "study_key": study_key, "mlflow.runName": run_name,
                       **tags})
        run_id = own
    else:
        run_id = client.create_run(experiment_id, run_name=run_name,
                                   tags={ROLE: "study", "study_key": study_key, **tags}
                                   ).info.run_id
    oldest = existing()[0].info.run_id
    if oldest != run_id:
        if own:
            set_tags(own, {ROLE: "study_worker", "study_parent_run_id": oldest})
        else:
            client.delete_run(run_id)
        return oldest
    _log_params(client, run_id, params)
    return run_id


@contextlib.contextmanager
def study_status(run_id: str):
    """This worker's part of the study: the parent ends FINISHED, FAILED or KILLED."""
    with _closing(MlflowClient(), run_id):
        yield


def set_tags(run_id: str, tags: dict) -> None:
    client = MlflowClient()
    for key, value in tags.items():
        client.set_tag(run_id, key, str(value))


def mark_lost(run_id: str, why: str) -> None:
    """End a run whose process died (e.g. a killed tuning worker)."""
    client = MlflowClient()
    if client.get_run(run_id).info.status == "RUNNING":
        client.set_tag(run_id, "error", why)
        client.set_terminated(run_id, "FAILED")


def load_pyfunc(run_id: str, name: str = "model"):
    return mlflow.pyfunc.load_model(f"runs:/{run_id}/{name}")


def run_tags(run_id: str) -> dict[str, str]:
    return dict(MlflowClient().get_run(run_id).data.tags)


def child_run(parent_run_id: str, run_name: str, params: dict, metrics: dict,
              tags: dict) -> str:
    """A finished run nested under `parent_run_id`, for results computed without training."""
    client = MlflowClient()
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    run = client.create_run(experiment_id, run_name=run_name,
                            tags={"mlflow.parentRunId": parent_run_id,
                                  **{k: str(v) for k, v in tags.items()}})
    now = int(time.time() * 1000)
    client.log_batch(run.info.run_id, params=_flat_params(params),
                     metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def finished_runs(experiment_name: str) -> list[dict]:
    """Every FINISHED run of an experiment as {run_id, name, tags, metrics}."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        names = ", ".join(e.name for e in client.search_experiments())
        raise TrackingError(f"experiment: no experiment named {experiment_name!r}; "
                            f"choose one of: {names}")
    runs = client.search_runs([experiment.experiment_id], "attributes.status = 'FINISHED'",
                              max_results=5000)
    return [{"run_id": r.info.run_id, "name": r.info.run_name, "tags": dict(r.data.tags),
             "metrics": dict(r.data.metrics)} for r in runs]


def log_report(paths: list[Path], experiment_name: str) -> str:
    """The report as a run of its own in the experiment it compares."""
    with mlflow.start_run(run_name=f"report-{experiment_name}",
                          tags={ROLE: "report"}) as run:
        for path in paths:
            mlflow.log_artifact(str(path))
    return run.info.run_id
