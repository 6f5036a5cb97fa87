"""One pruning experiment: data -> dense model (cached) -> gradual pruning -> strip -> export.

`run` is the Python API the CLI and MLproject are thin layers over. With
tracking on it fills one MLflow run; with tracking off it does the same work
and only returns the `Result`.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__, data, export, models, plots, schedules, train
from .config import PRETRAIN_FIELDS, ExperimentConfig


@dataclass
class Result:
    config: ExperimentConfig  # resolved: begin_step and end_step filled in
    metrics: dict[str, float]
    history: list[dict[str, float]]  # one dict per epoch, pre-training first
    window: schedules.Window
    run_id: str | None = None
    pretrain_run_id: str | None = None
    pruned_model: object = field(default=None, repr=False)  # stripped tf_keras.Model


def pretrain_key(config: ExperimentConfig, data_digest: str) -> str:
    """Everything that determines the dense model, hashed."""
    import tensorflow as tf

    what = {name: getattr(config, name) for name in PRETRAIN_FIELDS}
    what.update(data_digest=data_digest, tensorflow=tf.__version__, pruning=__version__)
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def run_name(config: ExperimentConfig) -> str:
    if config.schedule == "constant_sparsity":
        return f"{config.model}-{config.dataset}-const{config.final_sparsity:.0%}"
    return (f"{config.model}-{config.dataset}-"
            f"{config.initial_sparsity:.0%}to{config.final_sparsity:.0%}")


def prepare(config: ExperimentConfig):
    """Load data and resolve the pruning window: every input error surfaces here,
    before any run or training starts."""
    splits = data.load(config.dataset, config.data_dir, config.val_fraction, config.seed)
    steps = train.steps_per_epoch(len(splits.x_train), config.batch_size)
    window = schedules.resolve_window(config, steps)
    resolved = config.replace(begin_step=window.begin_step, end_step=window.end_step)
    return resolved, splits, window


def run(config: ExperimentConfig, tracking: bool = True, observers=(),
        experiment_name: str | None = None, tracking_uri: str | None = None) -> Result:
    resolved, splits, window = prepare(config)
    if not tracking:
        return _execute(resolved, splits, window, _Offline(), list(observers))
    from . import tracking as mlt

    mlt.check_store(experiment_name, tracking_uri)
    tags = {"dataset": config.dataset, "model": config.model, "schedule": config.schedule}
    with mlt.experiment_run(run_params(config, window), run_name(config), tags) as run_id:
        return _execute(resolved, splits, window, _Tracked(run_id), list(observers))


def run_params(config: ExperimentConfig, window: schedules.Window) -> dict:
    """The config as requested ("auto" stays auto: it is what the user asked for), plus
    the pruning window it resolved to. config.json holds the resolved config."""
    return {**config.to_dict(), "resolved_begin_step": window.begin_step,
            "resolved_end_step": window.end_step, "total_steps": window.total_steps}


def _execute(config, splits, window, recorder, observers) -> Result:
    recorder.start(config, splits)
    key = pretrain_key(config, splits.digest)
    dense, dense_history, dense_metrics, pretrain_run_id = _dense_model(
        config, splits, key, recorder, observers)
    pruned, retrain_history = train.retrain(dense, splits, config, window,
                                            [*recorder.observers, *observers],
                                            step_offset=len(dense_history))
    stripped = export.strip(pruned)
    metrics = {**dense_metrics, **_final_metrics(stripped, splits, config)}
    with tempfile.TemporaryDirectory() as tmp:
        metrics.update(_sizes_and_speed(dense, stripped, splits, config, Path(tmp), recorder))
    history = dense_history + retrain_history
    recorder.finish(config, metrics, history, window, stripped, splits)
    return Result(config, metrics, history, window, recorder.run_id, pretrain_run_id, stripped)


def _dense_model(config, splits, key, recorder, observers):
    """The pre-trained dense model: from the store's cache, or trained and cached now."""
    cached = recorder.find_pretrained(key)
    if cached is not None:
        recorder.copy_history(cached.history)
        recorder.tag(pretrain_key=key, pretrain_run_id=cached.run_id, pretrain_cached="true")
        dense_metrics = {k: v for k, v in cached.metrics.items() if k.startswith("dense_")}
        return cached.model, cached.history, dense_metrics, cached.run_id
    model = models.build(config.model, splits.input_shape, splits.num_classes, config)
    params = {name: getattr(config, name) for name in PRETRAIN_FIELDS}
    with recorder.pretrain_run(key, params, f"pretrain-{config.model}-{config.dataset}") as pre:
        history = train.pretrain(model, splits, config, [pre, *recorder.observers, *observers])
        test = train.evaluate(model, splits.x_test, splits.y_test, config.batch_size)
        dense_metrics = {"dense_test_accuracy": test["accuracy"], "dense_test_loss": test["loss"]}
        pre.save(model, history, dense_metrics)
    recorder.tag(pretrain_key=key, pretrain_run_id=pre.run_id, pretrain_cached="false")
    return model, history, dense_metrics, pre.run_id


def _final_metrics(stripped, splits, config) -> dict[str, float]:
    test = train.evaluate(stripped, splits.x_test, splits.y_test, config.batch_size)
    val = train.evaluate(stripped, splits.x_val, splits.y_val, config.batch_size)
    kernels = train.prunable_kernels(stripped, config.prune_output)
    weights = stripped.get_weights()
    return {"test_accuracy": test["accuracy"], "test_loss": test["loss"],
            "final_val_accuracy": val["accuracy"], "final_val_loss": val["loss"],
            **train.sparsity_metrics(kernels),
            "nonzero_params": float(sum(np.count_nonzero(w) for w in weights)),
            "total_params": float(sum(w.size for w in weights))}


def _sizes_and_speed(dense, stripped, splits, config, folder: Path, recorder) -> dict[str, float]:
    """File sizes, int8 accuracy and batch-1 latency: what the pruning buys when shipped."""
    _, dense_bytes, dense_gzip = export.file_sizes(dense, folder, "dense")
    _, pruned_bytes, pruned_gzip = export.file_sizes(stripped, folder, "pruned")
    calibration = splits.x_train[: config.calibration_samples]
    dense_tflite = export.to_tflite(dense)
    tflite = export.to_tflite(stripped)
    tflite_int8 = export.to_tflite(stripped, representative=calibration,
                                   per_channel=config.int8_granularity == "per_channel")
    int8_path = folder / "model_int8.tflite"
    int8_path.write_bytes(tflite_int8)
    recorder.file(int8_path)
    sample = splits.x_test[0]
    latency = lambda m: export.latency_us(m, sample, config.latency_runs,  # noqa: E731
                                          max(1, config.latency_runs // 10))
    metrics = {
        "dense_model_bytes": dense_bytes, "dense_model_bytes_gzip": dense_gzip,
        "model_bytes": pruned_bytes, "model_bytes_gzip": pruned_gzip,
        "tflite_bytes": len(tflite), "tflite_bytes_gzip": export.gzip_size(tflite),
        "tflite_int8_bytes": len(tflite_int8),
        "tflite_int8_bytes_gzip": export.gzip_size(tflite_int8),
        "tflite_int8_test_accuracy": export.tflite_accuracy(tflite_int8, splits.x_test,
                                                            splits.y_test),
        "dense_latency_us": latency(dense_tflite), "latency_us": latency(tflite),
        "int8_latency_us": latency(tflite_int8),
    }
    metrics["size_reduction"] = dense_bytes / metrics["tflite_int8_bytes_gzip"]
    return {k: float(v) for k, v in metrics.items()}


def figures(config, history, window, final_metrics) -> dict[str, object]:
    """The run's plots, from logged data only."""
    fn = schedules.SCHEDULES.get(config.schedule).sparsity
    steps = list(range(window.total_steps + 1))
    target = [schedules.sparsity_in_force(s, window, fn, config.initial_sparsity,
                                          config.final_sparsity, config.power) for s in steps]
    retrain = history[config.pretrain_epochs:]
    spe = window.total_steps // config.retrain_epochs
    actual_steps = [(i + 1) * spe for i in range(len(retrain))]
    title = run_name(config)
    per_layer = {k.split("/", 1)[1]: v for k, v in final_metrics.items()
                 if k.startswith("sparsity/")}
    return {
        "plots/training_curves.png": plots.training_curves(history, config.pretrain_epochs,
                                                           title),
        "plots/sparsity_schedule.png": plots.sparsity_over_steps(
            steps, target, actual_steps, [h["sparsity"] for h in retrain], window, title),
        "plots/layer_sparsity.png": plots.layer_sparsity(per_layer, title),
    }


def summary(config, metrics) -> str:
    """A few lines that answer "what did this cost": the run's description in the UI."""
    return (f"**{run_name(config)}**: {config.model} on {config.dataset}, "
            f"{config.schedule} {config.initial_sparsity:.0%} -> {config.final_sparsity:.0%} "
            f"over steps {config.begin_step}-{config.end_step}.\n\n"
            f"- test accuracy {metrics['test_accuracy']:.4f} (dense "
            f"{metrics['dense_test_accuracy']:.4f}, int8 TFLite "
            f"{metrics['tflite_int8_test_accuracy']:.4f})\n"
            f"- sparsity {metrics['sparsity']:.4f} of prunable weights; "
            f"{metrics['nonzero_params']:.0f} of {metrics['total_params']:.0f} params non-zero\n"
            f"- size: dense file {metrics['dense_model_bytes'] / 1024:.0f} KB -> gzipped int8 "
            f"TFLite {metrics['tflite_int8_bytes_gzip'] / 1024:.0f} KB "
            f"({metrics['size_reduction']:.1f}x)\n"
            f"- batch-1 latency: dense {metrics['dense_latency_us']:.0f} us, pruned "
            f"{metrics['latency_us']:.0f} us (unstructured zeros do not speed up dense "
            "kernels), int8 {metrics['int8_latency_us']:.0f} us\n")


class _Offline:
    """Tracking off: no cache, nothing logged."""
    run_id = None
    observers = ()

    def start(self, config, splits): pass
    def find_pretrained(self, key): return None
    def copy_history(self, history): pass
    def tag(self, **tags): pass
    def file(self, path): pass
    def finish(self, *args): pass

    @contextlib.contextmanager
    def pretrain_run(self, key, params, name):
        yield _OfflinePretrain()


class _OfflinePretrain(train.Observer):
    run_id = None

    def save(self, model, history, metrics): pass


class _Tracked:
    """Tracking on: everything into run `run_id` (tracking.py does the MLflow calls)."""

    def __init__(self, run_id: str):
        from . import tracking

        self.mlt, self.run_id = tracking, run_id
        self.observers = (tracking.RunObserver(run_id),)

    def start(self, config, splits):
        self.mlt.log_text(self.run_id, config.to_json(), "config.json")
        self.mlt.log_dataset(splits)

    def find_pretrained(self, key):
        return self.mlt.find_pretrained(key)

    def copy_history(self, history):
        self.mlt.log_history(self.run_id, history)

    def tag(self, **tags):
        self.mlt.log_results(self.run_id, {}, tags)

    def file(self, path):
        self.mlt.log_file(self.run_id, path)

    def pretrain_run(self, key, params, name):
        return self.mlt.pretrain_run(key, params, name, parent_run_id=self.run_id)

    def finish(self, config, metrics, history, window, stripped, splits):
        # At the last epoch's step, so that e.g. the final sparsity does not restart a series.
        self.mlt.log_results(self.run_id, metrics,
                             {"mlflow.note.content": summary(config, metrics)},
                             step=len(history) - 1)
        figs = figures(config, history, window, metrics)
        self.mlt.log_figures(self.run_id, figs)
        plots.close(figs.values())
        self.mlt.log_keras_model(stripped, splits.x_test[:5])
