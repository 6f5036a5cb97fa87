"""What a model must be for tfmot to prune it, and for this package's data to fit it:
each refusal one message that says why and what to do, before any training.

Also the model's digest (architecture and weights, layer names left out: Keras numbers
auto-named layers per process), which keys the dense cache.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from pruning.errors import ConfigError, DataError
from pruning.lazy import LazyModule
from pruning.models import keras3

keras = LazyModule("tf_keras")

TFMOT_NEEDS = ("tfmot wraps the layers of tf_keras (Keras 2) Sequential and Functional "
               "models only")


def load_keras_file(path: Path, what: str):
    """The model in a .keras/.h5 file or SavedModel folder: tf_keras's, or Keras 3's as
    Keras 3 loads it (the starting point bridges it, pruning.models.keras3); a custom
    layer that cannot be rebuilt is refused with the reason."""
    if path.suffix == ".keras" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z, z.open("metadata.json") as f:
            version = json.load(f).get("keras_version", "")
        if version.startswith("3."):
            return keras3.load(path, what)
    try:
        return keras.models.load_model(path, compile=False)
    except (ValueError, TypeError) as e:
        text = str(e)
        if "Unknown layer" in text or "custom class" in text or "Could not locate" in text:
            raise ConfigError("model", f"{what} has a custom layer tf_keras cannot rebuild "
                              f"({text.splitlines()[0]}); {TFMOT_NEEDS} made of built-in "
                              "layers: save one without it, or pass a builder "
                              "(package.module:function) whose module defines it") from None
        raise ConfigError("model", f"{what} is not a model tf_keras can load ({text[:200]}); "
                          "save it from tf_keras with model.save('model.keras')") from None
    except OSError as e:  # not HDF5, not a zip, unreadable
        raise ConfigError("model", f"{what} is not a model tf_keras can load ({e}); save it "
                          "from tf_keras with model.save('model.keras')") from None


def check_model(model, spec: str) -> None:
    what = f"model={spec!r}"
    if not isinstance(model, keras.Model):
        kind = type(model).__module__.split(".")[0]
        why = ("is a Keras 3 model" if kind == "keras" else
               f"is a {type(model).__name__}, not a tf_keras model")
        raise ConfigError("model", f"{what} {why}; {TFMOT_NEEDS}: build it with "
                          "`import tf_keras as keras`")
    if not getattr(model, "_is_graph_network", False):
        hint = ("give the Sequential model an input shape (keras.Input(shape) first)"
                if isinstance(model, keras.Sequential) else
                "rebuild it with the Functional API (keras.Input -> layers -> keras.Model)")
        raise ConfigError("model", f"{what} is a subclassed {type(model).__name__} (or not "
                          f"built); {TFMOT_NEEDS}: {hint}")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ConfigError("model", f"{what} has {len(model.inputs)} inputs and "
                          f"{len(model.outputs)} outputs; pruning here takes classifiers "
                          "with one input and one output")
    if len(model.output_shape) != 2 or (model.output_shape[-1] or 0) < 2:
        raise ConfigError("model", f"{what} outputs {model.output_shape}; pruning here takes "
                          "classifiers with one score per class: (batch, classes >= 2)")


def outputs_probabilities(model, x: np.ndarray) -> bool:
    """Does the model end in a softmax (else: logits)? Read off its outputs, so that it
    holds through tfmot's and quantization's wrappers."""
    out = np.asarray(model(x[:8], training=False))
    return bool(out.min() >= 0 and np.allclose(out.sum(axis=-1), 1.0, atol=1e-3))


def loss_for(model, x: np.ndarray):
    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=not outputs_probabilities(model, x))


def check_data(model, splits, spec: str) -> None:
    """The data against the model: shapes, classes, dtype and value range, named both."""
    what, data = f"model={spec!r}", f"dataset {splits.name!r} ({splits.source})"
    wants = tuple(model.input_shape[1:])
    has = splits.input_shape
    if len(wants) != len(has) or any(w is not None and w != h for w, h in zip(wants, has)):
        raise DataError(f"{what} takes inputs shaped {wants} but {data} has {has}; give data "
                        "of the model's input shape, or a model built for the data")
    classes = model.output_shape[-1]
    if classes < splits.num_classes:
        raise DataError(f"{what} scores {classes} classes but {data} has labels up to "
                        f"{splits.num_classes - 1}; the model needs one output per class")
    dtype = model.inputs[0].dtype
    raw_pixels = splits.images and not splits.scaled  # whole numbers 0-255: uint8 holds them
    if not dtype.is_floating and not (raw_pixels and dtype.name == "uint8"):
        raise DataError(f"{what} takes {dtype.name} inputs but {data} gives float32 (images "
                        "scaled to [0, 1]); give the model a float input")


def rescales_inputs(model) -> bool:
    """Whether the model divides raw pixels itself (a first Rescaling by 1/255 or so, the
    Keras tutorials' way): it then takes the images as they are."""
    first = next((layer for layer in model.layers
                  if not isinstance(layer, keras.layers.InputLayer)), None)
    return isinstance(first, keras.layers.Rescaling) and float(np.max(first.scale)) < 0.1


def digest(model) -> str:
    """Architecture (layer types, configs, connections) and weights, hashed."""
    index = {id(layer): i for i, layer in enumerate(model.layers)}
    h = hashlib.sha256()
    for layer in model.layers:
        config = {k: v for k, v in layer.get_config().items() if k != "name"}
        inbound = [index[id(source)] for node in layer._inbound_nodes
                   for source in _as_list(node.inbound_layers) if id(source) in index]
        h.update(json.dumps([type(layer).__name__, config, inbound], sort_keys=True,
                            default=str).encode())
    for weight in model.get_weights():
        h.update(str(weight.shape).encode())
        h.update(np.ascontiguousarray(weight).tobytes())
    return h.hexdigest()[:16]


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]
