"""Where the dense model comes from: a built-in name, a saved file, an MLflow model URI or a
builder function. A registry of source kinds, asked in order.

Each kind tells from the spelling alone whether a `model` value is its own (config
validation must stay cheap: no TensorFlow, no file reads) and yields a tf_keras model.
A kind that `arrives_trained` gives the dense starting point itself; the others give
an untrained model that pre-training trains. Adding a kind: one function here (and its
test); `starting_model` checks, and digests, whatever a kind returns.
"""
from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from pruning.models import builtin as models
from pruning.models import checks as model_checks
from pruning.models import keras3
from pruning.errors import ConfigError
from pruning.registry import SourceKinds

SOURCES = SourceKinds("model", models.MODELS.names)
FILE_SUFFIXES = (".keras", ".h5", ".hdf5")
_BUILDER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Kind:
    claims: object  # spec -> bool, from the string alone
    load: object  # (spec, input_shape, num_classes, config) -> (model, lineage tags)
    trained: bool  # the model is the dense starting point (no pre-training by default)
    form: str  # how a user spells it, for the error that lists them


@dataclass(frozen=True)
class Start:
    """A checked dense starting point: trained (file, URI) or freshly built."""
    model: object  # tf_keras.Model
    digest: str  # of its architecture and weights: keys the dense cache
    kind: str
    trained: bool
    lineage: dict  # tags that say where it came from, beyond `model` itself
    original: object = None  # the Keras 3 model `model` was bridged from, if it was

    def tags(self) -> dict:
        """What a run (or a study's parent) says of where its model came from."""
        return {"model_source": self.kind, "model_digest": self.digest, **self.lineage}


def kind_of(spec: str) -> str:
    return SOURCES.kind_of(spec)


def check_exists(spec: str) -> None:
    """A file or folder named as the model exists (cheap: before TensorFlow loads)."""
    if kind_of(spec) == "file" and not Path(spec).expanduser().exists():
        raise ConfigError("model", f"model={spec!r}: no such file or folder")


def arrives_trained(spec: str) -> bool:
    return SOURCES.get(kind_of(spec)).trained


def starting_model(config, input_shape: tuple, num_classes: int) -> Start:
    """The model `config.model` names, bridged to tf_keras if it is a Keras 3 model,
    checked for what pruning needs (see model_checks), and its digest."""
    name = kind_of(config.model)
    kind = SOURCES.get(name)
    model, lineage = kind.load(config.model, tuple(input_shape), num_classes, config)
    original = None
    if keras3.is_keras3(model):  # every kind of source may hand one over
        original, model = model, keras3.to_tf_keras(model, f"model={config.model!r}")
        lineage = {**lineage, "source_keras": keras3.version()}
    model_checks.check_model(model, config.model)
    return Start(model, model_checks.digest(model), name, kind.trained, lineage, original)


def _register(name: str, claims, trained: bool, form: str):
    def add(load):
        SOURCES.register(name)(Kind(claims, load, trained, form))
        return load

    return add


@_register("builtin", lambda spec: spec in models.MODELS, trained=False, form="")
def _builtin(spec, input_shape, num_classes, config):
    return models.build(spec, input_shape, num_classes, config), {}


@_register("mlflow", lambda spec: spec.startswith(("models:/", "runs:/")), trained=True,
           form="an MLflow model URI (models:/NAME@ALIAS, models:/NAME/VERSION, "
                "models:/MODEL_ID, runs:/RUN_ID/PATH)")
def _mlflow(spec, input_shape, num_classes, config):
    import tempfile

    from pruning import tracking

    with tempfile.TemporaryDirectory() as tmp:
        path, lineage = tracking.download_keras_model(spec, tmp)
        return model_checks.load_keras_file(path, f"model={spec!r}"), lineage


_HANDED: dict[str, object] = {}  # model objects given to `run(model=...)` in this process


def hand_over(model) -> str:
    """A model object (tf_keras or Keras 3) given to the Python API, as the `model` value
    that names it in the config and the run: `object:NAME`."""
    spec = f"object:{model.name}"
    _HANDED[spec] = model
    return spec


# Before "builder": `object:NAME` is spelled like package:function too.
@_register("object", lambda spec: spec.startswith("object:"), trained=True,
           form="a Keras model object handed to pruning.run(config, model=...)")
def _object(spec, input_shape, num_classes, config):
    if spec not in _HANDED:
        raise ConfigError("model", f"model={spec!r}: no model object of that name was handed "
                          "over in this process; give it as pruning.run(config, model=...)")
    model = _HANDED[spec]
    if keras3.is_keras3(model):
        return model, {}  # bridged into a new tf_keras model: the object stays untouched
    copy = models.keras.models.clone_model(model)  # training must not change the user's
    copy.set_weights(model.get_weights())
    return copy, {}


@_register("builder", lambda spec: bool(_BUILDER.match(spec)), trained=False,
           form="a builder package.module:function returning an untrained tf_keras model")
def _builder(spec, input_shape, num_classes, config):
    module_name, function = spec.split(":")
    if os.getcwd() not in sys.path:  # as `python -m` would: the user's own folder first
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError("model", f"model={spec!r}: cannot import {module_name} ({e}); "
                          "it must be importable from the current folder or PYTHONPATH") \
            from None
    build = getattr(module, function, None)
    if not callable(build):
        raise ConfigError("model", f"model={spec!r}: {module_name} has no function "
                          f"{function!r}")
    offered = {"input_shape": input_shape, "num_classes": num_classes, "config": config}
    params = inspect.signature(build).parameters
    missing = [p for p, v in params.items() if p not in offered and v.default is v.empty
               and v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)]
    if missing:
        raise ConfigError("model", f"model={spec!r}: {function}() wants {', '.join(missing)}; "
                          "a builder may take any of input_shape, num_classes, config")
    models.keras.utils.set_random_seed(config.seed)  # same seed, same initial weights
    return build(**{p: offered[p] for p in params if p in offered}), {}


def _looks_like_file(spec: str) -> bool:
    return spec.endswith(FILE_SUFFIXES) or os.sep in spec or "/" in spec \
        or os.path.exists(spec)


@_register("file", _looks_like_file, trained=True,
           form="a saved tf_keras model (.keras, .h5, SavedModel folder)")
def _file(spec, input_shape, num_classes, config):

    check_exists(spec)
    path = Path(spec).expanduser()
    return model_checks.load_keras_file(path, f"model={spec!r}"), \
        {"model_file": str(path.absolute())}
