"""The dense model a run prunes: its starting point checked against the data, then
trained, or found trained in the store's cache under a key of what determines it.
A teacher (pruning.experiment.teacher) is such a dense model too, of another recipe."""
from __future__ import annotations

import hashlib
import json

from pruning import training
from pruning.version import __version__
from pruning.config import ExperimentConfig
from pruning.experiment import describe
from pruning.errors import ConfigError
from pruning.models import checks as model_checks
from pruning.models import keras3
from pruning.models import sources as model_sources
from pruning.observers import tell


def pretrain_key(config: ExperimentConfig, data_digest: str, model_digest: str) -> str:
    """What determines the dense model, hashed: the starting model's and the data's
    digests and the fields that declare the dense role (how it is trained)."""
    import tensorflow as tf

    what = {name: getattr(config, name) for name in config.dense_fields()}
    what.update(pretrain_epochs=config.dense_epochs, data_digest=data_digest,
                model_digest=model_digest, tensorflow=tf.__version__, pruning=__version__)
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def starting_point(config, splits, window=None) -> tuple[model_sources.Start, object]:
    """The dense starting model, checked against the data and, where the model or the
    options are not the built-in defaults, against tfmot's wrapping; and the data as it
    takes them (raw pixels for a model that rescales its inputs, no channel axis for a
    model whose input has none)."""
    start = model_sources.starting_model(config, splits.input_shape, splits.num_classes)
    splits = splits.for_model(tuple(start.model.input_shape[1:]),
                              model_checks.rescales_inputs(start.model))
    model_checks.check_data(start.model, splits, config.model)
    if start.original is not None:  # bridged from Keras 3: it must compute the same
        diff = keras3.max_abs_diff(start.original, start.model, splits.x_val[:256])
        if not diff <= keras3.TOLERANCE:
            raise ConfigError("model", f"model={config.model!r}: rebuilt in tf_keras, its "
                              f"outputs differ from the Keras 3 model's by up to {diff:.3g} "
                              f"on the validation data (allowed {keras3.TOLERANCE:g}); a "
                              "layer does not translate: please report it")
        start.lineage["bridge_max_abs_diff"] = f"{diff:.3g}"
    granularity = config.pruned_by()
    if granularity.needs_model_check(config, builtin=start.kind == "builtin"):
        granularity.check(start.model, config, window)
    return start, splits


def find_or_train(config, splits, start, recorder, observers, what: str = "dense model"):
    """The dense model: a trained starting model as it is (no dense epochs), else from
    the store's cache, or trained and cached now. `what` it is, in the progress lines."""
    if config.dense_epochs == 0:
        tell(observers, f"measuring the {what}")
        return start.model, [], measure(start.model, splits, config), None
    key = pretrain_key(config, splits.digest, start.digest)
    name = f"pretrain-{describe.short_name(config.model)}-{describe.short_name(config.dataset)}"
    params = {field: getattr(config, field)
              for field in config.start_fields() + config.dense_fields()}
    params.update(pretrain_epochs=config.dense_epochs, model_digest=start.digest,
                  data_digest=splits.digest)
    while True:
        cached = recorder.find_pretrained(key)  # waits while another process trains it
        if cached is not None:
            tell(observers, f"{what} from the cache (run {cached.run_id})")
            recorder.copy_history(cached.history)
            recorder.tag(pretrain_key=key, pretrain_run_id=cached.run_id, pretrain_cached="true")
            dense_metrics = {k: v for k, v in cached.metrics.items() if k.startswith("dense_")}
            return cached.model, cached.history, dense_metrics, cached.run_id
        with recorder.pretrain_run(key, params, name) as pre:
            if pre is None:  # another process claimed it a moment ago: wait for it
                continue
            model = start.model
            history = training.pretrain(model, splits, config,
                                     [pre, *recorder.observers, *observers])
            dense_metrics = measure(model, splits, config)
            pre.save(model, history, dense_metrics,
                     describe.pretrain_note(config, key, dense_metrics, recorder.run_id))
        recorder.tag(pretrain_key=key, pretrain_run_id=pre.run_id, pretrain_cached="false")
        return model, history, dense_metrics, pre.run_id


def measure(model, splits, config) -> dict[str, float]:
    test = training.evaluate(model, splits.x_test, splits.y_test, config.batch_size)
    return {"dense_test_accuracy": test["accuracy"], "dense_test_loss": test["loss"]}
