"""One pruning experiment: data -> dense model (cached) -> gradual pruning at the configured
granularity -> the model that ships (stripped, or rebuilt smaller) -> export.

`run` is the Python API the CLI and MLproject are thin layers over. With
tracking on it fills one MLflow run; with tracking off it does the same work
and only returns the `Result`.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pruning import training
from pruning import tracking as mlt
from pruning.config import ExperimentConfig
from pruning.config import preflight
from pruning.experiment import dense, describe, teacher
from pruning.experiment.progress import Progress
from pruning.experiment.recorders import Offline, PretrainOnly, Tracked
from pruning.models import builtin as models
from pruning.models import keras3
from pruning.models import sources as model_sources
from pruning.observers import tell
from pruning.shipping import clustering, measure, quantization
from pruning.sparsity import policies, schedules


@dataclass(frozen=True)
class Outputs:
    """What a run produces beyond training; tuning trials skip the costly parts."""
    test_set: bool = True  # evaluate on the test set (tuning: only the best trial)
    export: bool = True  # TFLite conversions, int8 accuracy, latencies
    latency: bool = False  # without export: the int8 model's latency alone (a trial's)
    keep_model: object = True  # bool, or a function of the final metrics -> bool


FULL = Outputs()


@dataclass
class Result:
    config: ExperimentConfig  # resolved: begin_step and end_step filled in
    metrics: dict[str, float]
    history: list[dict[str, float]]  # one dict per epoch, pre-training first
    window: schedules.Window
    run_id: str | None = None
    pretrain_run_id: str | None = None
    pruned_model: object = field(default=None, repr=False)  # the shipped tf_keras.Model
    model_id: str | None = None  # the logged model, when one was kept
    registered: str | None = None  # NAME/VERSION in the Model Registry, when registered
    registration: str | None = None  # what was registered and where `champion` is, in a sentence


def prepare(config: ExperimentConfig, checked=None):
    """Load data and resolve the pruning window (`checked`: what `preflight.check` gave),
    then what only TensorFlow can check, on the starting model: every input error
    surfaces here, before any run or training starts. Returns (config, splits, window,
    starting point)."""
    resolved, splits, window = checked or preflight.check(config)
    start, splits = dense.starting_point(resolved, splits, window)
    return resolved, splits, window, start


def run(config: ExperimentConfig, tracking: bool = True, observers=(),
        experiment_name: str | None = None, tracking_uri: str | None = None,
        outputs: Outputs = FULL, parent_run_id: str | None = None,
        tags: dict | None = None, extra_params: dict | None = None,
        finished_on: tuple = (), name: str | None = None,
        register_model: str | None = None, checked=None,
        model_name: str | None = None, model=None) -> Result:
    """One experiment. `parent_run_id` nests its run (tuning trials, sweep points) and
    `name` names it (default: `describe.run_name`) and `model_name` its logged model
    (default: `describe.model_name`); exceptions of the types in
    `finished_on` still end the run FINISHED (a trial stopped early). `register_model`
    registers the shipped model under that name in the Model Registry. `checked` is
    `preflight.check(config)` when the caller ran it already. `model`: a Keras model
    object (tf_keras or Keras 3) to start from, in place of `config.model`."""
    if model is not None:
        config = config.replace(model=model_sources.hand_over(model))
    mlt.use_tracking_uri(tracking_uri)
    resolved, splits, window, start = prepare(config, checked)
    if not tracking:
        return _execute(resolved, splits, window, start, Offline(), list(observers), outputs)
    if parent_run_id is None:
        mlt.check_store(experiment_name, tracking_uri, describe.experiment_name(config))
    tags = {"dataset": config.dataset, "model": config.model, "schedule": config.schedule,
            "recipe": config.recipe, "granularity": config.granularity, **start.tags(),
            **(tags or {})}
    params = {**run_params(config, window), "input_form": splits.form, **(extra_params or {})}
    title = name or describe.run_name(config)
    with mlt.experiment_run(params, title, tags, parent_run_id=parent_run_id,
                            finished_on=finished_on) as run_id:
        for observer in observers:
            getattr(observer, "run_started", lambda run_id: None)(run_id)
        if "source_model_id" in start.lineage:
            mlt.log_model_input(run_id, start.lineage["source_model_id"])
        result = _execute(resolved, splits, window, start,
                          Tracked(run_id, title, model_name), list(observers), outputs)
        if result.model_id:  # the model's page says where it came from, as the run's does
            mlt.tag_model(result.model_id, start.lineage)
        if register_model and result.model_id:
            crowned = mlt.contend(result.model_id, register_model, result.metrics,
                                  describe.summary(result.config, result.metrics, title,
                                                   splits.form), splits.dataset_digest,
                                  tags={"pruned_from": config.model, "data_digest": splits.digest,
                                        "seed": str(config.seed), **start.lineage})
            mlt.set_tags(run_id, {"registered_model": crowned.label})
            result.registered = f"{crowned.name}/{crowned.version}"
            result.registration = crowned.why
        return result


def run_params(config: ExperimentConfig, window: schedules.Window) -> dict:
    """The config as requested ("auto" stays auto: it is what the user asked for), plus
    the pruning window it resolved to. config.json holds the resolved config."""
    return {**config.to_dict(), "resolved_begin_step": window.begin_step,
            "resolved_end_step": window.end_step,
            "resolved_frequency": window.frequency, "total_steps": window.total_steps,
            "resolved_pretrain_epochs": config.dense_epochs}


def ensure_pretrained(config: ExperimentConfig, splits, start, requested_by: str,
                      progress: bool = False):
    """(dense model, its run id) for `config` from the store, trained now if missing (a
    run of its own that names `requested_by`): a study or sweep pre-trains once, and
    every trial or point starts from the same weights. A trained starting model with no
    more dense epochs is itself the dense model (run id None). With `progress`, the
    dense epochs print their lines as `pruning run`'s do (a CIFAR-10 pre-training lasts
    ~40 min)."""
    observers = [Progress(config)] if progress else []
    model, _, _, run_id = dense.find_or_train(config, splits, start,
                                              PretrainOnly(requested_by), observers)
    return model, run_id


def _execute(config, splits, window, start, recorder, observers, outputs: Outputs) -> Result:
    recorder.start(config, splits)
    dense_model, dense_history, dense_metrics, pretrain_run_id = dense.find_or_train(
        config, splits, start, recorder, observers)
    splits, teacher_metrics, teacher_tags = teacher.with_teacher(config, splits, recorder,
                                                                 observers)
    if teacher_tags:
        recorder.tag(**teacher_tags)
    dense_side = measure.dense_side_meanwhile(dense_model, splits, config, outputs.export)
    pruned = config.pruned_by().prune(
        dense_model, splits, config, window, [*recorder.observers, *observers],
        step_offset=len(dense_history))
    shipped, retrain_history = pruned.shipped, pruned.history
    if config.clusters:  # weight sharing: what ships is the clustered model
        shipped, shared_history = clustering.share_weights(
            shipped, splits, config, [*recorder.observers, *observers],
            step_offset=len(dense_history) + len(retrain_history))
        retrain_history = retrain_history + shared_history
        pruned.metrics.update(clustering.distinct_values(shipped, config))
    tell(observers, "evaluating the pruned model")
    metrics = {**dense_metrics, **teacher_metrics, **pruned.metrics,
               **_final_metrics(shipped, splits, config, outputs.test_set)}
    qat = None
    if config.qat_epochs and outputs.export:  # QAT only feeds the int8 export
        qat, _ = quantization.quantization_aware(
            shipped, splits, config, [*recorder.observers, *observers],
            step_offset=len(dense_history) + len(retrain_history))
        metrics["qat_sparsity"] = policies.sparsity_metrics(
            policies.prunable_kernels(qat, config))["sparsity"]
    costs, tflite_int8 = measure.costs(dense_side.result(), shipped, qat, splits, config,
                                       outputs.export, outputs.latency,
                                       lambda text: tell(observers, text))
    metrics.update(costs)
    history = dense_history + retrain_history
    keep = outputs.keep_model(metrics) if callable(outputs.keep_model) else outputs.keep_model
    tell(observers, "logging the model, metrics and plots" if recorder.run_id else "done")
    keras3_file = None
    if start.original is not None and keep and outputs.export:  # handed back as it came
        keras3_file = _keras3_file(shipped, splits.input_transform())
    model_id = recorder.finish(config, metrics, history, window, shipped if keep else None,
                               splits, tflite_int8, models.image_dense_layer(shipped),
                               describe.summary(config, metrics, recorder.title, splits.form),
                               pruned.texts, keras3_file)
    return Result(config, metrics, history, window, recorder.run_id, pretrain_run_id, shipped,
                  model_id)


def _keras3_file(model, transform: dict) -> bytes:
    """The shipped tf_keras model as a Keras 3 .keras file, its zeros kept, that takes
    the inputs as the user has them."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        keras3.to_keras3(model, path, transform)
        return path.read_bytes()


def _final_metrics(shipped, splits, config, test_set: bool) -> dict[str, float]:
    val = training.evaluate(shipped, splits.x_val, splits.y_val, config.batch_size)
    weights = shipped.get_weights()
    metrics = {"final_val_accuracy": val["accuracy"], "final_val_loss": val["loss"],
               "nonzero_params": float(sum(np.count_nonzero(w) for w in weights)),
               "total_params": float(sum(w.size for w in weights))}
    if test_set:
        test = training.evaluate(shipped, splits.x_test, splits.y_test, config.batch_size)
        metrics.update(test_accuracy=test["accuracy"], test_loss=test["loss"])
    return metrics
