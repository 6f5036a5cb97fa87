"""Studies: one parent run per Optuna study, shared by every worker and resume."""
from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from pruning.observers import interrupted
from pruning.tracking import background, outage
from pruning.tracking.heartbeat import BEAT, Beater, is_stale, stale_seconds
from pruning.tracking.runs import (ROLE, _give_up_if_unreachable, _log_params, _record_error, set_tags)
from pruning.tracking.store import current_experiment_id


WORKER = "pruning.worker."  # tag prefix: one tag per live worker, its last heartbeat


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
    experiment_id = current_experiment_id()
    query = f"tags.study_key = '{study_key}' and tags.`{ROLE}` = 'study'"

    def existing():
        return client.search_runs([experiment_id], query,
                                  order_by=["attributes.start_time ASC"], max_results=10)

    runs = existing()
    if runs:
        run_id = runs[0].info.run_id
        if own and own != run_id:
            set_tags(own, {ROLE: "study_worker", "study_parent_run_id": run_id})
        return run_id
    if own:
        set_tags(own, {ROLE: "study", "study_key": study_key, "mlflow.runName": run_name,
                       BEAT: f"{time.time():.0f}", **tags})
        run_id = own
    else:
        run_id = client.create_run(experiment_id, run_name=run_name,
                                   tags={ROLE: "study", "study_key": study_key,
                                         # exists before workers beat: a first insert
                                         # of one tag by two workers at once fails
                                         BEAT: f"{time.time():.0f}", **tags}
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
def study_worker(run_id: str):
    """This worker's part of a study's shared run. While it works, a tag of its own on the
    run beats (and the run is RUNNING); when it stops, the last worker out closes the run:
    FINISHED, or FAILED/KILLED with the error kept. A worker that stops while others beat
    leaves the run to them."""
    client = MlflowClient()
    me = f"{WORKER}{socket.gethostname()}-{os.getpid()}"

    def beat():
        now = f"{time.time():.0f}"
        client.set_tag(run_id, me, now)
        client.set_tag(run_id, BEAT, now)

    beat()
    client.update_run(run_id, status="RUNNING")  # a worker joining a study that had ended
    status, error = "FINISHED", None
    try:
        with Beater(beat):
            yield
            background.flush()  # the study's figures and texts land before it closes
    except BaseException as e:
        with outage.fail_fast(), contextlib.suppress(Exception):
            background.flush()  # what was logged is kept; the error is the one reported
        status, error = ("KILLED" if interrupted(e) else "FAILED"), e
        _give_up_if_unreachable(run_id, e)  # and leave nothing to a server that is gone
        raise
    finally:
        if not (error and outage.is_unreachable(error)):
            _leave(client, run_id, me, status, error)


def _leave(client: MlflowClient, run_id: str, me: str, status: str, error) -> None:
    client.delete_tag(run_id, me)
    now = time.time()
    others = [k for k, v in client.get_run(run_id).data.tags.items()
              if k.startswith(WORKER) and now - float(v) < stale_seconds()]
    if others:
        return
    if error is not None:
        _record_error(client, run_id, error)
    client.set_terminated(run_id, status)


def run_is_stale(run_id: str) -> bool:
    return is_stale(MlflowClient().get_run(run_id))


def mark_lost(run_id: str, why: str) -> None:
    """End a run whose process died (e.g. a killed tuning worker)."""
    client = MlflowClient()
    if client.get_run(run_id).info.status == "RUNNING":
        client.set_tag(run_id, "error", why)
        client.set_terminated(run_id, "FAILED")
