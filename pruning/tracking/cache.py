"""The dense-model cache: the store itself.

A pre-training is a run of its own at the experiment's top level, tagged with its
key and holding the dense model; any process that shares the store finds it with
`find_pretrained`, and two processes needing it at once train it once.
"""
from __future__ import annotations

import contextlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from .runs import ROLE, RunObserver, _closing, _log_params
from .store import current_experiment_id

PRETRAIN_POLL_SECONDS = 3  # how often a process waiting for another's pre-training looks
PRETRAIN_STALE_SECONDS = 1800  # a RUNNING pre-training silent this long is taken as dead


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
def pretrain_run(key: str, params: dict, run_name: str, requested_by: str | None):
    """A top-level run of its own for a dense pre-training (in the experiment of the run
    `requested_by`, which it names); yields a `PretrainRecorder`, or None if another
    process claimed this pre-training first (then wait with `find_pretrained`)."""
    client = MlflowClient()
    experiment_id = (client.get_run(requested_by).info.experiment_id if requested_by
                     else current_experiment_id())
    tags = {ROLE: "pretrain", "pretrain_key": key, "mlflow.runName": run_name}
    if requested_by:
        tags["pruning.requested_by"] = requested_by
    run = client.create_run(experiment_id, tags=tags, run_name=run_name)
    first = _pretrain_runs(client, key)[0]
    if first.info.run_id != run.info.run_id:
        client.delete_run(run.info.run_id)
        yield None
        return
    with _closing(client, run.info.run_id, monitor=True):
        _log_params(client, run.info.run_id, params)
        yield PretrainRecorder(run.info.run_id)


class PretrainRecorder(RunObserver):
    def save(self, model, history: list[dict], metrics: dict[str, float], note: str) -> None:
        from ..export import save_h5  # TensorFlow is loaded by now: the model is trained

        self.client.log_batch(self.run_id, metrics=[
            Metric(k, float(v), int(time.time() * 1000), len(history) - 1)
            for k, v in metrics.items()], tags=[RunTag("mlflow.note.content", note)])
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "dense"
            folder.mkdir()
            save_h5(model, folder / "model.h5")
            (folder / "history.json").write_text(json.dumps(history))
            self.client.log_artifacts(self.run_id, str(folder), "dense")
