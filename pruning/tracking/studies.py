"""Studies: one parent run per Optuna study, shared by every worker and resume."""
from __future__ import annotations

import contextlib
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from .runs import ROLE, _closing, _log_params, set_tags
from .store import current_experiment_id


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
    # No system metrics here: the trials, in this process, record their own.
    with _closing(MlflowClient(), run_id):
        yield


def mark_lost(run_id: str, why: str) -> None:
    """End a run whose process died (e.g. a killed tuning worker)."""
    client = MlflowClient()
    if client.get_run(run_id).info.status == "RUNNING":
        client.set_tag(run_id, "error", why)
        client.set_terminated(run_id, "FAILED")
