"""Logged models and the Model Registry.

A run's shipped model is a LoggedModel named after what it is (`mlp-mnist-90`),
carrying its own final metrics (linked with `model_id`, the evaluation dataset
named on the test metrics). Run metrics logged at a model's step attach to it, so
the model sits at a step where the run logs nothing (one past its last epoch).
"""
from __future__ import annotations

import contextlib
import json
import tempfile
import time
from importlib.metadata import version as package_version
from pathlib import Path

import mlflow
import numpy as np
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from pruning.model_files import save_h5

SERVING_CODE = Path(__file__).with_name("serving.py")
CHAMPION = "champion"  # the alias a study moves to its best trial's model
# Version tags: what a registry user filters and sorts by.
REGISTRY_TAGS = ("sparsity", "test_accuracy", "tflite_int8_test_accuracy",
                 "tflite_int8_bytes_gzip", "size_reduction", "int8_latency_us")


def log_model(run_id: str, model, example: np.ndarray, name: str, step: int,
              tflite_int8: bytes | None = None, transform: dict | None = None,
              keras3_file: bytes | None = None) -> str:
    """The stripped model as a pyfunc that loads anywhere (see serving.py), the int8
    TFLite beside it; returns the model id. `example`: inputs as the user has them, and
    `transform` ({scale, channel_axis}) what turns them into the model's. With
    `keras3_file` (a Keras 3 source's model handed back, taking inputs as given) that
    file is the model inside, in place of the tf_keras one."""
    import tensorflow as tf
    import tf_keras
    from mlflow.models import infer_signature


    transform = transform or {"scale": 1.0, "channel_axis": False}
    x = np.asarray(example, dtype=np.float32)
    x = (x[..., None] if transform["channel_axis"] else x) * np.float32(transform["scale"])
    predictions = model.predict(x, verbose=0)
    # Given explicitly: inferring them reloads the model in a subprocess (slow).
    requirements = [f"tensorflow=={tf.__version__}", f"tf-keras=={tf_keras.__version__}",
                    "numpy"]
    with tempfile.TemporaryDirectory() as tmp:
        if keras3_file is None:
            artifacts = {"keras_model": str(Path(tmp) / "model.h5")}
            save_h5(model, Path(artifacts["keras_model"]))
        else:
            artifacts = {"keras_model": str(Path(tmp) / "model.keras")}
            Path(artifacts["keras_model"]).write_bytes(keras3_file)
            transform = {"scale": 1.0, "channel_axis": False}  # the file takes them as given
            requirements.append(f"keras=={package_version('keras')}")
        artifacts["input_transform"] = str(Path(tmp) / "input_transform.json")
        Path(artifacts["input_transform"]).write_text(json.dumps(transform))
        if tflite_int8 is not None:
            artifacts["tflite_int8"] = str(Path(tmp) / "model_int8.tflite")
            Path(artifacts["tflite_int8"]).write_bytes(tflite_int8)
        with _active(run_id):  # fluent log_model writes to the active run
            info = mlflow.pyfunc.log_model(
                name=name, python_model=str(SERVING_CODE), artifacts=artifacts,
                signature=infer_signature(example, predictions), input_example=example[:2],
                pip_requirements=requirements, step=step)
    return info.model_id


@contextlib.contextmanager
def _active(run_id: str):
    """`run_id` as the active run: it is already (an experiment's run), or is resumed for
    the call (a finished sweep point) and ends with the status it had."""
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        yield
        return
    status = MlflowClient().get_run(run_id).info.status
    with mlflow.start_run(run_id=run_id, nested=active is not None):
        yield
    MlflowClient().set_terminated(run_id, status)


def set_model_note(model_id: str, text: str) -> None:
    """A logged model's description on its page (the note tag runs use too)."""
    MlflowClient().set_logged_model_tags(model_id, {"mlflow.note.content": text})


def tag_model(model_id: str, tags: dict) -> None:
    """Tags on a logged model's page, e.g. where its starting model came from."""
    if tags:
        MlflowClient().set_logged_model_tags(model_id, {k: str(v) for k, v in tags.items()})


def log_model_metrics(run_id: str, model_id: str | None, metrics: dict[str, float],
                      step: int, dataset=None) -> None:
    """Final metrics on the run and, with `model_id`, on its model; test-set metrics name
    the evaluation dataset."""
    now = int(time.time() * 1000)
    out = []
    for key, value in metrics.items():
        on_test = dataset is not None and "test_" in key and not key.startswith("dense_")
        out.append(Metric(key, float(value), now, step, model_id=model_id,
                          dataset_name=dataset.name if on_test else None,
                          dataset_digest=dataset.digest if on_test else None))
    MlflowClient().log_batch(run_id, metrics=out)


def register(model_id: str, name: str, metrics: dict[str, float], description: str,
             alias: str | None = None, tags: dict | None = None) -> str:
    """A new version of registered model `name` from a logged model, tagged with what it
    costs (and `tags`, e.g. the model it was pruned from); `alias` moves to it. Returns
    the version."""
    # The client calls, not mlflow.register_model: that one prints to stderr itself.
    client = MlflowClient()
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    else:
        for existing in client.search_model_versions(f"name = '{name}'"):
            if existing.source == f"models:/{model_id}":
                return existing.version  # a study summarised again with the same best
    version = client.create_model_version(
        name, source=f"models:/{model_id}", model_id=model_id, description=description,
        run_id=client.get_logged_model(model_id).source_run_id,
        tags={**{k: f"{metrics[k]:.6g}" for k in REGISTRY_TAGS if k in metrics},
              **(tags or {})})
    if alias:
        client.set_registered_model_alias(name, alias, version.version)
    return version.version


def _aliased(client: MlflowClient, name: str, alias: str):
    try:
        return client.get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException:  # no such model or alias yet
        return None


def alias_tags(name: str, alias: str) -> dict | None:
    """The tags of the version of `name` that holds `alias` (with its number as
    `version`), or None."""
    version = _aliased(MlflowClient(), name, alias)
    return None if version is None else {**version.tags, "version": version.version}


def model_id_of(run_id: str) -> str | None:
    """The shipped model a run logged, if any."""
    outputs = MlflowClient().get_run(run_id).outputs
    ids = [o.model_id for o in (outputs.model_outputs if outputs else [])]
    return ids[-1] if ids else None


def model_metrics(model_id: str) -> dict[str, float]:
    """A logged model's own metrics (latest value of each)."""
    metrics = MlflowClient().get_logged_model(model_id).metrics or []
    return {m.key: m.value for m in sorted(metrics, key=lambda m: (m.step, m.timestamp))}


def load_pyfunc(model_id: str):
    return mlflow.pyfunc.load_model(f"models:/{model_id}")
