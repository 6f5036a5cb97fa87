"""The study's best model in the registry. Trials skip the export to stay cheap, so the
best is shipped in full first (int8 TFLite, sizes, int8 accuracy, latency, test set): its
version carries every tag the docs promise. The alias `champion` then moves by the rule
every registration follows (`pruning.tracking.champion`); the terminal and the study's
note say where, and why."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from pruning import training
from pruning.config import ExperimentConfig
from pruning.models import checks as model_checks
from pruning.shipping import measure
from pruning.tracking.champion import OBJECTIVE


def crown(best, name: str, dense, splits, parent: str, mlt, note: str):
    """Ship trial `best` in full, register it under `name` and move `champion` if it earns
    it: a `pruning.tracking.champion.Crowning`."""
    run_id, model_id = best.user_attrs["mlflow_run_id"], best.user_attrs["mlflow_model_id"]
    config = ExperimentConfig.from_dict(json.loads(best.user_attrs["config"]))
    metrics = {**mlt.model_metrics(model_id), **_shipped(model_id, dense, splits, config,
                                                         run_id, mlt)}
    metrics[OBJECTIVE] = best.value
    return mlt.contend(model_id, name, metrics, note, splits.dataset_digest,
                       tags={"data_digest": splits.digest, "study_run_id": parent,
                             "trial": str(best.number)})


def _shipped(model_id: str, dense, splits, config, run_id: str, mlt) -> dict[str, float]:
    """What the trial skipped, measured on its logged model and logged on its run and
    model: test set, int8 file and accuracy, sizes, latencies."""
    if "tflite_int8_test_accuracy" in mlt.model_metrics(model_id):
        return {}  # shipped already (a worker summarised the same best before)
    with tempfile.TemporaryDirectory() as tmp:
        path, _ = mlt.download_keras_model(f"models:/{model_id}", tmp)
        model = model_checks.load_keras_file(Path(path), f"model=models:/{model_id}")
    test = training.evaluate(model, splits.x_test, splits.y_test, config.batch_size)
    costs, tflite_int8 = measure.costs(measure.dense_side(dense, splits, config, True),
                                       model, None, splits, config, convert=True)
    metrics = {"test_accuracy": test["accuracy"], "test_loss": test["loss"], **costs}
    mlt.log_bytes(run_id, tflite_int8, "model_int8.tflite")
    mlt.log_model_metrics(run_id, model_id, metrics, step=0)
    return metrics
