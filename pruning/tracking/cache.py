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

from pruning.model_files import save_h5
from pruning.tracking.heartbeat import BEAT, is_stale, last_beat, stale_seconds
from pruning.tracking.runs import ROLE, RunObserver, _closing, _log_params
from pruning.tracking.store import current_experiment_id

PRETRAIN_POLL_SECONDS = 3  # how often a process waiting for another's pre-training looks


@dataclass(frozen=True)
class Pretrained:
    run_id: str
    model: object  # tf_keras.Model
    history: list[dict[str, float]]
    metrics: dict[str, float]


def _pretrain_runs(client: MlflowClient, key: str) -> list:
    """Live (RUNNING, heartbeat fresh) and FINISHED pre-trainings with this key, oldest
    first. A RUNNING one whose heartbeat is stale lost its process: it is closed FAILED
    here, and its claim passes on at once."""
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, filter_string=f"tags.pretrain_key = '{key}' and "
                              f"tags.`{ROLE}` = 'pretrain'",
                              order_by=["attributes.start_time ASC"])
    live = []
    for run in runs:
        if is_stale(run):
            with contextlib.suppress(Exception):  # another process may be closing it too
                client.set_tag(run.info.run_id, "error", "pre-training lost: no heartbeat "
                               f"for {time.time() - last_beat(run):.0f} s; claim taken over")
                client.set_terminated(run.info.run_id, "FAILED")
        elif run.info.status in ("RUNNING", "FINISHED"):
            live.append(run)
    return live


def find_pretrained(key: str, say=None) -> Pretrained | None:
    """The newest finished pre-training with this key, in any experiment of the store.

    While another live process is still training it, wait for it (saying so) rather
    than train it twice.
    """
    client = MlflowClient()
    said = False
    while True:
        runs = _pretrain_runs(client, key)
        finished = [r for r in runs if r.info.status == "FINISHED"]
        if finished:
            break
        if not runs:
            return None
        if say and not said:
            said = True
            say(f"waiting for the dense pre-training run {runs[0].info.run_id} of another "
                f"process (taken over if silent for {stale_seconds():.0f} s)")
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
    tags = {ROLE: "pretrain", "pretrain_key": key, "mlflow.runName": run_name,
            BEAT: f"{time.time():.0f}"}
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

        self.client.log_batch(self.run_id, metrics=[
            Metric(k, float(v), int(time.time() * 1000), len(history) - 1)
            for k, v in metrics.items()], tags=[RunTag("mlflow.note.content", note)])
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "dense"
            folder.mkdir()
            save_h5(model, folder / "model.h5")
            (folder / "history.json").write_text(json.dumps(history))
            self.client.log_artifacts(self.run_id, str(folder), "dense")
