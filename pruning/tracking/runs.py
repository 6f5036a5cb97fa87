"""Runs and what goes into them.

- `experiment_run` opens the run of one experiment (honouring `mlflow run`'s
  MLFLOW_RUN_ID) and closes it FINISHED, FAILED or KILLED, with system metrics.
- `RunObserver` is the training observer that logs one metric batch per
  epoch and the mask snapshots.
- Sweeps and reports: child runs computed without training, finished runs read back.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
import traceback
from pathlib import Path

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from pruning.errors import TrackingError
from pruning.observers import Observer, interrupted
from pruning.tracking import background, outage
from pruning.tracking import masks_file
from pruning.tracking.heartbeat import beating
from pruning.tracking.store import current_experiment_id, retry

# Tag telling what a run is: experiment (also each tuning trial), pretrain, study,
# study_worker, sweep, sweep_point or report.
ROLE = "pruning.role"
MAX_PARAMS_PER_BATCH = 100  # MLflow's limit for one log_batch call
SYSTEM_METRICS_SECONDS = 10  # CPU and memory sampling of a run (psutil)


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
    """One epoch's metrics in one call, queued (MLflow's asynchronous logging): the next
    epoch does not wait for the store. The run's end flushes the queue."""
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()],
                     synchronous=False)


def _log_bytes(client: MlflowClient, run_id: str, data: bytes, artifact_path: str) -> None:
    folder, name = os.path.split(artifact_path)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        client.log_artifact(run_id, str(path), folder or None)


class RunObserver(Observer):
    """Logs each epoch as one metric batch and mask snapshots as packed npz files, both
    off the training's path (see background)."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.client = MlflowClient()

    def epoch_end(self, step, metrics):
        log_epoch(self.client, self.run_id, step, metrics)

    def mask_snapshot(self, step, masks, final):
        data = masks_file.to_npz_bytes(masks)  # now: training goes on changing the masks
        background.submit(_log_bytes, self.client, self.run_id, data,
                          f"masks/epoch_{step:04d}.npz")
        if final:
            background.submit(_log_bytes, self.client, self.run_id, data, "masks/final.npz")


def _record_error(client: MlflowClient, run_id: str, error: BaseException) -> str:
    """Keep why a run ended on the run itself; return its final status."""
    stopped = interrupted(error)
    with contextlib.suppress(Exception):  # never hide the original error
        client.set_tag(run_id, "error", f"{type(error).__name__}: {error}"[:5000])
        if not stopped:
            _log_bytes(client, run_id, traceback.format_exc().encode(), "error.txt")
    return "KILLED" if stopped else "FAILED"


def _sampling_seconds() -> float:
    return float(os.environ.get("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL")
                 or SYSTEM_METRICS_SECONDS)


@contextlib.contextmanager
def _closing(client: MlflowClient, run_id: str, monitor: bool = False):
    """A client-created run's lifetime, with a heartbeat, and CPU and memory sampled while
    it lasts when `monitor`: FINISHED, or FAILED/KILLED with the error kept."""
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    sampler = SystemMetricsMonitor(run_id, sampling_interval=_sampling_seconds()) \
        if monitor else None
    if sampler:
        sampler.start()
    try:
        with beating(run_id):
            yield
            background.flush()  # everything lands before the run says it ended
    except BaseException as e:
        _flush_what_was_logged()
        _give_up_if_unreachable(run_id, e)
        client.set_terminated(run_id, _record_error(client, run_id, e))
        raise
    finally:
        if sampler:
            with outage.fail_fast(), contextlib.suppress(Exception):
                sampler.finish()
    client.set_terminated(run_id, "FINISHED")


def _flush_what_was_logged() -> None:
    """A run ending by an error or a signal still keeps all it logged; the error that
    ended it is the one reported, not an upload's."""
    with outage.fail_fast(), contextlib.suppress(Exception):
        background.flush()


def _give_up_if_unreachable(run_id: str, error: BaseException) -> None:
    """Closing the run needs the server that just stopped answering: leave it RUNNING
    (its heartbeat goes stale) and say so, at once."""
    if outage.is_unreachable(error):
        raise outage.ServerUnreachable(run_id, error) from None


@contextlib.contextmanager
def experiment_run(params: dict, run_name: str, tags: dict,
                   parent_run_id: str | None = None, finished_on: tuple = ()):
    """The active MLflow run of one experiment; yields its id.

    Under `mlflow run`, MLFLOW_RUN_ID names a run that already exists; it is
    resumed, not duplicated. With `parent_run_id` the run is nested under it.
    Exceptions of a type in `finished_on` end the run FINISHED (and propagate).
    """
    resumed = bool(os.environ.get("MLFLOW_RUN_ID")) and parent_run_id is None
    if parent_run_id is None:
        run_name = unique_name(current_experiment_id(), run_name)
    mlflow.set_system_metrics_sampling_interval(_sampling_seconds())
    # Tag values as strings: the REST client refuses others (a sqlite store takes them).
    run = mlflow.start_run(run_name=None if resumed else run_name,
                           nested=parent_run_id is not None, parent_run_id=parent_run_id,
                           tags={ROLE: "experiment", **{k: str(v) for k, v in tags.items()}},
                           log_system_metrics=True)
    run_id, client, status = run.info.run_id, MlflowClient(), "FINISHED"
    try:
        with beating(run_id):
            if resumed:
                client.set_tag(run_id, "mlflow.runName", run_name)
            _log_params(client, run_id, params)
            yield run_id
            background.flush()  # everything lands before the run says it ended
    except finished_on:
        _flush_what_was_logged()
        raise
    except BaseException as e:
        _flush_what_was_logged()
        if outage.is_unreachable(e):
            status = None
            raise outage.ServerUnreachable(run_id, e) from None
        status = _record_error(client, run_id, e)
        raise
    finally:
        if status:
            mlflow.end_run(status)
        else:  # the server is gone: drop the run locally, stop its system metrics
            with outage.fail_fast(), contextlib.suppress(Exception):
                mlflow.end_run("FAILED")


def unique_name(experiment_id: str, name: str) -> str:
    """`name`, or `name #N` when earlier top-level runs of the experiment hold it: runs
    the UI lists side by side must be told apart."""
    escaped = name.replace("'", "\\'")
    taken = MlflowClient().search_runs(
        [experiment_id], f"attributes.run_name LIKE '{escaped}%'", max_results=1000)
    names = {r.info.run_name for r in taken}
    if name not in names:
        return name
    n = 2
    while f"{name} #{n}" in names:
        n += 1
    return f"{name} #{n}"


def fail_run(run_id: str, message: str) -> None:
    """End a run that never started work (bad input under `mlflow run`): FAILED, with
    the one-line error as its tag and note."""
    client = MlflowClient()
    if client.get_run(run_id).info.status != "RUNNING":
        return  # ended by the run itself, with its own record
    client.set_tag(run_id, "error", message)
    client.set_tag(run_id, "mlflow.note.content", f"**Rejected before training**: {message}")
    client.set_terminated(run_id, "FAILED")


# -- what the experiment run receives at the end ---------------------------------------------

def log_dataset(splits):
    """The data as MLflow inputs, with the digest that also keys the dense cache; returns
    the evaluation dataset, which final metrics name."""
    for context, x, y in (("training", splits.x_train, splits.y_train),
                          ("evaluation", splits.x_test, splits.y_test)):
        source = splits.source if os.path.exists(splits.source) else None
        dataset = mlflow.data.from_numpy(x, targets=y, source=source, digest=splits.digest,
                                         name=f"{splits.name}-{context}")
        # Workers starting together in a new experiment insert the same dataset at once,
        # and the server refuses the second insert (unique key); once it exists, logging
        # it again links the run to it, so the loser retries.
        retry(lambda: mlflow.log_input(dataset, context=context))
    return dataset


def log_history(run_id: str, history: list[dict[str, float]], first_step: int = 0) -> None:
    client = MlflowClient()
    for i, metrics in enumerate(history):
        log_epoch(client, run_id, first_step + i, metrics)


NOTE = "mlflow.note.content"


def log_results(run_id: str, metrics: dict[str, float], tags: dict[str, str],
                step: int = 0) -> None:
    client = MlflowClient()
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()],
                     tags=[RunTag(k, str(v)) for k, v in tags.items()])


def log_text(run_id: str, text: str, artifact_path: str) -> None:
    background.submit(MlflowClient().log_text, run_id, text, artifact_path)


def log_bytes(run_id: str, data: bytes, artifact_path: str) -> None:
    background.submit(_log_bytes, MlflowClient(), run_id, data, artifact_path)


def log_figures(run_id: str, figures: dict[str, object], then=lambda figure: None) -> None:
    """Each figure saved and uploaded on the logging threads, then `then(figure)` (e.g.
    closing it: not before it is saved)."""
    client = MlflowClient()

    def upload(path, figure):
        try:
            client.log_figure(run_id, figure, path)
        finally:
            then(figure)

    for path, figure in figures.items():
        background.submit(upload, path, figure)


def set_tags(run_id: str, tags: dict) -> None:
    client = MlflowClient()
    for key, value in tags.items():
        client.set_tag(run_id, key, str(value))


def set_note(run_id: str, text: str) -> None:
    """The run's description in the UI (MLflow keeps it as the tag mlflow.note.content)."""
    MlflowClient().set_tag(run_id, NOTE, text)


def download(uri: str) -> str:
    """A logged artifact (runs:/<id>/path, models:/...) as a local file path."""
    try:
        return mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tempfile.mkdtemp())
    except Exception as e:  # MLflow's errors for a missing run or artifact
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TrackingError(f"config: cannot download {uri!r} ({first[:200]})") from None


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
