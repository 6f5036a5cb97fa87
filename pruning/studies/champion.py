"""The study's best model in the registry. Trials skip the export to stay cheap, so the
best is shipped in full first (int8 TFLite, sizes, int8 accuracy, latency, test set): its
version carries every tag the docs promise. The alias `champion` then moves to it only
when it beats the current champion on the validation objective, measured on the same
data; the terminal and the study's note say which, and why."""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pruning import training
from pruning.config import ExperimentConfig
from pruning.models import checks as model_checks
from pruning.shipping import measure

OBJECTIVE = "final_val_accuracy"  # what a study maximises, and what champions are compared on


@dataclass(frozen=True)
class Crowning:
    version: str
    moved: bool
    why: str  # one sentence: what was registered, where the alias is and why


def decide(current: dict | None, value: float, digest: str) -> tuple[bool, str]:
    """Whether `champion` moves to a new model of validation `value` on data `digest`;
    `current`: the tags of the version that holds the alias now (None: no champion)."""
    if current is None:
        return True, "no champion yet"
    if current.get("data_digest") != digest:
        return False, (f"the champion was measured on other data (digest "
                       f"{current.get('data_digest', 'unknown')}, this study {digest}): "
                       "the two are not comparable")
    theirs = float(current.get(OBJECTIVE, "nan"))
    if value > theirs:
        return True, f"validation accuracy {value:.4f} beats the champion's {theirs:.4f}"
    return False, f"validation accuracy {value:.4f} does not beat the champion's {theirs:.4f}"


def crown(best, name: str, dense, splits, parent: str, mlt, note: str) -> Crowning:
    """Ship trial `best` in full, register it under `name` and move `champion` if it earns
    it."""
    run_id, model_id = best.user_attrs["mlflow_run_id"], best.user_attrs["mlflow_model_id"]
    config = ExperimentConfig.from_dict(json.loads(best.user_attrs["config"]))
    metrics = {**mlt.model_metrics(model_id), **_shipped(model_id, dense, splits, config,
                                                         run_id, mlt)}
    current = mlt.alias_tags(name, mlt.CHAMPION)
    moved, why = decide(current, best.value, splits.digest)
    version = mlt.register(model_id, name, metrics, note,
                           alias=mlt.CHAMPION if moved else None,
                           tags={OBJECTIVE: f"{best.value:.6g}", "data_digest": splits.digest,
                                 "study_run_id": parent, "trial": str(best.number)})
    where = (f"alias `{mlt.CHAMPION}` moved to it" if moved else
             f"alias `{mlt.CHAMPION}` stays on version {current.get('version', '?')}")
    return Crowning(version, moved, f"registered as `{name}` version {version}; {where}: {why}")


def _shipped(model_id: str, dense, splits, config, run_id: str, mlt) -> dict[str, float]:
    """What the trial skipped, measured on its logged model and logged on its run and
    model: test set, int8 file and accuracy, sizes, latencies."""
    if "tflite_int8_test_accuracy" in mlt.model_metrics(model_id):
        return {}  # shipped already (a worker summarised the same best before)
    with tempfile.TemporaryDirectory() as tmp:
        path, _ = mlt.download_keras_model(f"models:/{model_id}", tmp)
        model = model_checks.load_keras_file(Path(path), f"model=models:/{model_id}")
    test = training.evaluate(model, splits.x_test, splits.y_test, config.batch_size)
    costs, tflite_int8 = measure.costs(dense, model, None, splits, config, convert=True)
    metrics = {"test_accuracy": test["accuracy"], "test_loss": test["loss"], **costs}
    mlt.log_bytes(run_id, tflite_int8, "model_int8.tflite")
    mlt.log_model_metrics(run_id, model_id, metrics, step=0)
    return metrics
