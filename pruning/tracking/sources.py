"""A model to start from, named by an MLflow URI: its Keras file fetched from the store.

Three layouts hold one: MLflow's `keras` flavor (`mlflow.keras.log_model` of a Keras 3
model), its `tensorflow` flavor (`mlflow.tensorflow.log_model` of a tf_keras model) and
this package's own shipped models (a pyfunc with the Keras file
as an artifact, see models.log_model). The file is returned, not loaded: TensorFlow
stays out of the tracking layer.
"""
from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow.entities import LoggedModelInput
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.tracking import MlflowClient

from pruning.errors import ConfigError

KERAS_FILES = ("model.keras", "model.h5", "model")  # the tensorflow flavor's data folder


def download_keras_model(uri: str, dst: str) -> tuple[Path, dict]:
    """(local tf_keras file or SavedModel folder, lineage tags) of the model at `uri`."""
    what = f"model={uri!r}"
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=dst))
        flavors = Model.load(str(local)).flavors
    except (MlflowException, OSError) as e:
        raise ConfigError("model", f"{what} cannot be fetched from the tracking store "
                          f"{mlflow.get_tracking_uri()} ({str(e).splitlines()[0][:200]})") \
            from None
    if "tensorflow" in flavors:
        data = local / flavors["tensorflow"].get("data", "data")
        path = next((data / name for name in KERAS_FILES if (data / name).exists()), None)
    elif "keras" in flavors:  # mlflow.keras.log_model of a Keras 3 model: bridged later
        path = local / flavors["keras"].get("data", "data") / "model.keras"
    elif "keras_model" in flavors.get("python_function", {}).get("artifacts", {}):
        path = local / flavors["python_function"]["artifacts"]["keras_model"]["path"]
    else:
        raise ConfigError("model", f"{what} is a model of flavor(s) {', '.join(flavors)}; "
                          "pruning starts from a Keras model logged with "
                          "mlflow.keras.log_model, mlflow.tensorflow.log_model or by "
                          "pruning itself")
    if path is None or not path.exists():
        raise ConfigError("model", f"{what}: no tf_keras model file inside it")
    return path, _lineage(uri)


def _lineage(uri: str) -> dict:
    """The logged model (and registered version) a URI points at, where it can tell."""
    client = MlflowClient()
    name = uri.removeprefix("models:/")
    if uri.startswith("runs:/"):
        return {}
    if "@" not in name and "/" not in name:  # models:/<model id>
        return {"source_model_id": name} if name.startswith("m-") else {}
    try:
        if "@" in name:
            version = client.get_model_version_by_alias(*name.split("@", 1))
        else:
            version = client.get_model_version(*name.split("/", 1))
    except MlflowException:
        return {}
    model_id = version.model_id or version.source.removeprefix("models:/")
    out = {"source_model_version": f"{version.name}/{version.version}"}
    if model_id.startswith("m-"):
        out["source_model_id"] = model_id
    return out


def log_model_input(run_id: str, model_id: str) -> None:
    """The starting model as the run's model input (`run.inputs.model_inputs`; MLflow
    3.17's run page does not show it, the `source_model_*` tags say it there)."""
    MlflowClient().log_inputs(run_id, models=[LoggedModelInput(model_id)])
