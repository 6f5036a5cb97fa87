"""Reading an experiment's finished runs back, and the report that compares them, logged
as a run of its own."""
from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from pruning.errors import TrackingError
from pruning.tracking.runs import ROLE


def experiment_id(experiment_name: str) -> str:
    """The id of an existing experiment; an unknown name lists the valid ones."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        names = ", ".join(e.name for e in client.search_experiments())
        raise TrackingError(f"experiment: no experiment named {experiment_name!r}; "
                            f"choose one of: {names}")
    return experiment.experiment_id


def finished_runs(experiment_name: str) -> list[dict]:
    """Every FINISHED run of an experiment as {run_id, name, tags, metrics}."""
    runs = MlflowClient().search_runs([experiment_id(experiment_name)],
                                      "attributes.status = 'FINISHED'", max_results=5000)
    return [{"run_id": r.info.run_id, "name": r.info.run_name, "tags": dict(r.data.tags),
             "metrics": dict(r.data.metrics)} for r in runs]


def log_report(paths: list[Path], experiment_name: str) -> str:
    """The report as a run of its own in the experiment it compares."""
    with mlflow.start_run(run_name=f"report-{experiment_name}", tags={ROLE: "report"},
                          experiment_id=experiment_id(experiment_name)) as run:
        for path in paths:
            mlflow.log_artifact(str(path))
    return run.info.run_id
