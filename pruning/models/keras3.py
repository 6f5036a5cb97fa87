"""Keras 3 models in, Keras 3 models out. tfmot wraps tf_keras (Keras 2) layers only, and
`import keras` has been Keras 3 since TensorFlow 2.16: a Keras 3 Sequential or Functional
model of built-in layers is rebuilt as tf_keras from its config (translated) with its
weights copied, pruned as any tf_keras model, and handed back as Keras 3 through the
HDF5 file both Keras versions read (`to_keras3`).

A layer with no tf_keras counterpart, a custom layer or a subclassed model is refused in
one line naming it. Whether the rebuilt model computes what the original did is checked
on the user's data before any training (`max_abs_diff`).
"""
from __future__ import annotations

import inspect
import json
import tempfile
from pathlib import Path

import numpy as np

from pruning.errors import ConfigError
from pruning.lazy import LazyModule

keras3 = LazyModule("keras")  # Keras 3, whatever TF_USE_LEGACY_KERAS says
tf_keras = LazyModule("tf_keras")

TOLERANCE = 1e-5  # largest output difference the bridge may make, on the user's data
# Keyword arguments every tf_keras layer takes beyond its own (base Layer's).
BASE_KWARGS = {"name", "trainable", "dtype", "input_shape", "batch_input_shape",
               "batch_size", "input_dim", "weights", "activity_regularizer", "autocast",
               "dynamic"}
# Layers whose weights carry no state worth copying but whose config Keras 3 spells apart.
INPUT_RENAMES = {"batch_shape": "batch_input_shape"}


def is_keras3(model) -> bool:
    return type(model).__module__.startswith("keras.")


def version() -> str:
    return keras3.__version__


def to_tf_keras(model, what: str):
    """The tf_keras twin of a Keras 3 Sequential or Functional `model`, weights copied."""
    kind = type(model).__name__
    if kind not in ("Sequential", "Functional"):
        raise ConfigError("model", f"{what} is a subclassed Keras 3 model ({kind}); the "
                          "bridge to tf_keras takes Sequential and Functional models of "
                          "built-in layers: build it with keras.Sequential or the "
                          "functional API")
    for layer in model.layers:
        _counterpart(layer, what)
    config = _layers_config(model.get_config(), what, functional=kind == "Functional")
    rebuilt = (tf_keras.Sequential if kind == "Sequential" else tf_keras.Model).from_config(
        config)
    for layer in model.layers:
        target = rebuilt.get_layer(layer.name)
        weights = layer.get_weights()
        if len(weights) != len(target.get_weights()):
            raise ConfigError("model", f"{what}: layer {layer.name!r} "
                              f"({type(layer).__name__}) holds {len(weights)} weights in "
                              f"Keras 3 but {len(target.get_weights())} in tf_keras; the "
                              "bridge cannot copy it")
        target.set_weights(weights)
    return rebuilt


def max_abs_diff(original, rebuilt, x: np.ndarray) -> float:
    """The largest difference between the two models' outputs on `x`."""
    a = np.asarray(original.predict(x, verbose=0))
    b = np.asarray(rebuilt.predict(x, verbose=0))
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def to_keras3(model, path: Path, transform: dict | None = None):
    """`model` (tf_keras) as a Keras 3 model saved at `path` (.keras), weights and zeros
    as they are; returns the Keras 3 model. Through the HDF5 file both Keras versions
    read, its config stripped of the options Keras 3 no longer takes (e.g. groups of a
    DepthwiseConv2D). With `transform` (`Splits.input_transform()`) it takes inputs as
    the user has them (`_take_as_given`)."""
    import h5py  # with TensorFlow: HDF5 is how tf_keras saves here

    with tempfile.TemporaryDirectory() as tmp:
        h5 = Path(tmp) / "model.h5"
        model.save(h5, include_optimizer=False, save_format="h5")
        with h5py.File(h5, "r+") as f:
            config = json.loads(f.attrs["model_config"])
            for entry in config["config"]["layers"]:
                cls = getattr(keras3.layers, entry["class_name"])
                accepted = set(inspect.signature(cls.__init__).parameters) | BASE_KWARGS
                entry["config"] = {k: v for k, v in entry["config"].items() if k in accepted}
            if transform and (transform["scale"] != 1 or transform["channel_axis"]):
                _take_as_given(config, transform)
            f.attrs["model_config"] = json.dumps(config)
        converted = keras3.saving.load_model(h5, compile=False)
    converted.save(path)
    return converted


def _take_as_given(config: dict, transform: dict) -> None:
    """The model's saved config, changed to take inputs as given: its input layer takes
    the user's dtype and shape, then a Rescaling and a Reshape make them the model's (the
    pyfunc's input_transform, as layers, so that the file needs nothing else). Edited in
    the config, not wrapped: a nested model (or Keras 3's own input conversion) would be
    layers the bridge cannot take back."""
    layers = config["config"]["layers"]
    if layers[0]["class_name"] != "InputLayer":
        return  # (a Sequential given input_shape= on its first layer) the file takes the model's inputs
    first = layers[0]["config"]  # the input layer: tf_keras saves it first
    shape = first["batch_input_shape"]
    given = shape[:-1] if transform["channel_axis"] else shape
    first.update(batch_input_shape=given, dtype=transform["dtype"])
    name = first["name"]
    added = [{"class_name": "Rescaling",
              "config": {"name": "scale_as_trained", "scale": transform["scale"],
                         "offset": 0.0}}]
    if transform["channel_axis"]:
        added.append({"class_name": "Reshape",
                      "config": {"name": "channel_axis", "target_shape": shape[1:]}})
    if config["class_name"] != "Sequential":
        for layer in layers[1:]:  # the model's first layers now read the last added one
            layer["inbound_nodes"] = json.loads(json.dumps(layer["inbound_nodes"]).replace(
                f'["{name}", 0, 0', f'["{added[-1]["config"]["name"]}", 0, 0'))
        for before, layer in zip([name] + [a["config"]["name"] for a in added], added):
            layer.update(name=layer["config"]["name"], inbound_nodes=[[[before, 0, 0, {}]]])
    layers[1:1] = added


def load(path: Path, what: str):
    """A Keras 3 model from its file, a custom or unknown layer refused in one line."""
    try:
        return keras3.saving.load_model(path, compile=False)
    except (TypeError, ValueError) as e:
        first = str(e).strip().splitlines()[0][:300]
        raise ConfigError("model", f"{what}: Keras 3 cannot rebuild it here ({first}); the "
                          "bridge takes models of built-in layers (register custom ones "
                          "with keras.saving.register_keras_serializable, or replace "
                          "them)") from None


def _counterpart(layer, what: str):
    name = type(layer).__name__
    cls = getattr(tf_keras.layers, name, None)
    if cls is None or not type(layer).__module__.startswith("keras."):
        raise ConfigError("model", f"{what}: layer {layer.name!r} ({name}) has no tf_keras "
                          "counterpart, so tfmot cannot prune it; replace it with built-in "
                          "layers")
    return cls


def _layers_config(config: dict, what: str, functional: bool) -> dict:
    out = {"name": config.get("name", "model"), "layers": []}
    for entry in config["layers"]:
        cls = getattr(tf_keras.layers, entry["class_name"])
        layer = {"class_name": entry["class_name"],
                 "config": _layer_config(cls, entry["config"])}
        if functional:
            layer["name"] = entry.get("name", entry["config"]["name"])
            layer["inbound_nodes"] = [_node(node) for node in entry.get("inbound_nodes", [])]
        out["layers"].append(layer)
    if functional:
        out["input_layers"] = _tensors(config["input_layers"])
        out["output_layers"] = _tensors(config["output_layers"])
    return out


def _tensors(spec) -> list:
    """Keras 3 writes one input or output as [name, 0, 0], several as a list of those."""
    return [spec] if spec and isinstance(spec[0], str) else list(spec)


def _node(node: dict) -> list:
    """A Keras 3 call node ({args, kwargs}) as tf_keras' list of inbound tensors."""
    tensors = []

    def walk(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            name, node_index, tensor_index = value["config"]["keras_history"]
            tensors.append([name, node_index, tensor_index, {}])
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(node.get("args", []))
    return tensors


def _layer_config(cls, config: dict) -> dict:
    accepted = set(inspect.signature(cls.__init__).parameters) | BASE_KWARGS
    out = {}
    for key, value in config.items():
        key = INPUT_RENAMES.get(key, key) if cls.__name__ == "InputLayer" else key
        if key not in accepted:
            continue  # Keras 3 only (e.g. InputLayer's optional): tf_keras has no such option
        out[key] = _value(value)
    return out


def _value(value):
    """Keras 3's serialized objects ({module, class_name, config, registered_name}) as
    tf_keras reads them; a dtype policy as its name."""
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        if value["class_name"] == "DTypePolicy":
            return value["config"]["name"]
        config = value["config"]
        if isinstance(config, dict):
            # initializers' Keras 3 extras (input_axes, output_axes): the weights are copied
            config = {k: _value(v) for k, v in config.items()
                      if k not in ("input_axes", "output_axes")}
        return {"class_name": value["class_name"], "config": config}
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value
