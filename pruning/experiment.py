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
from .errors import ConfigError


@dataclass(frozen=True)
class Outputs:
    """What a run produces beyond training; tuning trials skip the costly parts."""
    test_set: bool = True  # evaluate on the test set (tuning: only the best trial)
    export: bool = True  # TFLite conversions, int8 accuracy, latencies
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
    pruned_model: object = field(default=None, repr=False)  # stripped tf_keras.Model


def pretrain_key(config: ExperimentConfig, data_digest: str) -> str:
    """Everything that determines the dense model, hashed."""
    import tensorflow as tf

    what = {name: getattr(config, name) for name in PRETRAIN_FIELDS}
    what.update(data_digest=data_digest, tensorflow=tf.__version__, pruning=__version__)
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def run_name(config: ExperimentConfig) -> str:
    if config.m_by_n():
        return f"{config.model}-{config.dataset}-{config.sparsity_m_by_n.replace(',', 'by')}"
    if config.schedule == "constant_sparsity":
        return f"{config.model}-{config.dataset}-const{config.final_sparsity:.0%}"
    shared = "" if config.sparsity_distribution == "uniform" else f"-{config.sparsity_distribution}"
    return (f"{config.model}-{config.dataset}-"
            f"{config.initial_sparsity:.0%}to{config.final_sparsity:.0%}{shared}")


def prepare(config: ExperimentConfig):
    """Load data and resolve the pruning window: every input error surfaces here,
    before any run or training starts."""
    splits = data.load(config.dataset, config.data_dir, config.val_fraction, config.seed)
    steps = train.steps_per_epoch(len(splits.x_train), config.batch_size)
    window = schedules.resolve_window(config, steps)
    resolved = config.replace(begin_step=window.begin_step, end_step=window.end_step)
    if config.pruning_policy != "all" or config.m_by_n() or config.qat_epochs:
        _check_prunable(resolved, splits, window)
    return resolved, splits, window


def _check_prunable(config, splits, window) -> None:
    """tfmot refuses a model that a policy, M-by-N or quantization cannot handle only when
    it wraps it, after pre-training: wrap an untrained one now to fail first."""
    model = models.build(config.model, splits.input_shape, splits.num_classes, config)
    try:
        train.wrap_for_pruning(model, config, window)
    except ValueError as e:
        name = "sparsity_m_by_n" if "m_by_n" in str(e) else "pruning_policy"
        hint = ("use model=mobilenetv2_xnnpack or pruning_policy=all"
                if name == "pruning_policy" else "use a model whose kernels it fits, or empty")
        raise ConfigError(name, f"{name}={getattr(config, name)!r} cannot prune "
                          f"model={config.model} ({hint}): {e}") from None
    if config.qat_epochs:
        try:
            train.quantize_model(model)
        except (ValueError, RuntimeError) as e:
            raise ConfigError("qat_epochs", f"qat_epochs={config.qat_epochs}: tfmot cannot "
                              f"quantize model={config.model} (use 0): {e}") from None


def run(config: ExperimentConfig, tracking: bool = True, observers=(),
        experiment_name: str | None = None, tracking_uri: str | None = None,
        outputs: Outputs = FULL, parent_run_id: str | None = None,
        tags: dict | None = None, extra_params: dict | None = None,
        finished_on: tuple = ()) -> Result:
    """One experiment. `parent_run_id` nests its run (tuning trials, sweep points);
    exceptions of the types in `finished_on` still end the run FINISHED (a trial stopped
    early)."""
    resolved, splits, window = prepare(config)
    if not tracking:
        return _execute(resolved, splits, window, _Offline(), list(observers), outputs)
    from . import tracking as mlt

    if parent_run_id is None:
        mlt.check_store(experiment_name, tracking_uri)
    tags = {"dataset": config.dataset, "model": config.model, "schedule": config.schedule,
            **(tags or {})}
    params = {**run_params(config, window), **(extra_params or {})}
    with mlt.experiment_run(params, run_name(config), tags,
                            parent_run_id=parent_run_id, finished_on=finished_on) as run_id:
        for observer in observers:
            getattr(observer, "run_started", lambda run_id: None)(run_id)
        return _execute(resolved, splits, window, _Tracked(run_id), list(observers), outputs)


def run_params(config: ExperimentConfig, window: schedules.Window) -> dict:
    """The config as requested ("auto" stays auto: it is what the user asked for), plus
    the pruning window it resolved to. config.json holds the resolved config."""
    return {**config.to_dict(), "resolved_begin_step": window.begin_step,
            "resolved_end_step": window.end_step, "total_steps": window.total_steps}


def ensure_pretrained(config: ExperimentConfig, parent_run_id: str):
    """(dense model, its run id) for `config` from the store, trained now under
    `parent_run_id` if missing: a study or sweep pre-trains once, and every trial or
    point starts from the same weights."""
    splits = data.load(config.dataset, config.data_dir, config.val_fraction, config.seed)
    recorder = _PretrainOnly(parent_run_id)
    model, _, _, run_id = _dense_model(config, splits, pretrain_key(config, splits.digest),
                                       recorder, [])
    return model, run_id


def _execute(config, splits, window, recorder, observers, outputs: Outputs) -> Result:
    recorder.start(config, splits)
    key = pretrain_key(config, splits.digest)
    dense, dense_history, dense_metrics, pretrain_run_id = _dense_model(
        config, splits, key, recorder, observers)
    pruned, retrain_history = train.retrain(dense, splits, config, window,
                                            [*recorder.observers, *observers],
                                            step_offset=len(dense_history))
    stripped = export.strip(pruned)
    metrics = {**dense_metrics, **_final_metrics(stripped, splits, config, outputs.test_set)}
    qat = None
    if config.qat_epochs and outputs.export:  # QAT only feeds the int8 export
        qat, _ = train.quantization_aware(
            stripped, splits, config, [*recorder.observers, *observers],
            step_offset=len(dense_history) + len(retrain_history))
        metrics["qat_sparsity"] = train.sparsity_metrics(
            train.prunable_kernels(qat, config))["sparsity"]
    with tempfile.TemporaryDirectory() as tmp:
        metrics.update(_sizes(dense, stripped, Path(tmp)))
        if outputs.export:
            metrics.update(_tflite(dense, stripped, splits, config, Path(tmp), recorder))
            metrics.update(_tflite_options(stripped, qat, splits, config))
            metrics["size_reduction"] = (metrics["dense_model_bytes"]
                                         / metrics["tflite_int8_bytes_gzip"])
    history = dense_history + retrain_history
    keep = outputs.keep_model(metrics) if callable(outputs.keep_model) else outputs.keep_model
    recorder.finish(config, metrics, history, window, stripped if keep else None, splits)
    return Result(config, metrics, history, window, recorder.run_id, pretrain_run_id, stripped)


def _dense_model(config, splits, key, recorder, observers):
    """The pre-trained dense model: from the store's cache, or trained and cached now."""
    name = f"pretrain-{config.model}-{config.dataset}"
    params = {field: getattr(config, field) for field in PRETRAIN_FIELDS}
    while True:
        cached = recorder.find_pretrained(key)  # waits while another process trains it
        if cached is not None:
            recorder.copy_history(cached.history)
            recorder.tag(pretrain_key=key, pretrain_run_id=cached.run_id, pretrain_cached="true")
            dense_metrics = {k: v for k, v in cached.metrics.items() if k.startswith("dense_")}
            return cached.model, cached.history, dense_metrics, cached.run_id
        with recorder.pretrain_run(key, params, name) as pre:
            if pre is None:  # another process claimed it a moment ago: wait for it
                continue
            model = models.build(config.model, splits.input_shape, splits.num_classes, config)
            history = train.pretrain(model, splits, config,
                                     [pre, *recorder.observers, *observers])
            test = train.evaluate(model, splits.x_test, splits.y_test, config.batch_size)
            dense_metrics = {"dense_test_accuracy": test["accuracy"],
                             "dense_test_loss": test["loss"]}
            pre.save(model, history, dense_metrics)
        recorder.tag(pretrain_key=key, pretrain_run_id=pre.run_id, pretrain_cached="false")
        return model, history, dense_metrics, pre.run_id


def _final_metrics(stripped, splits, config, test_set: bool) -> dict[str, float]:
    val = train.evaluate(stripped, splits.x_val, splits.y_val, config.batch_size)
    kernels = train.prunable_kernels(stripped, config)
    weights = stripped.get_weights()
    metrics = {"final_val_accuracy": val["accuracy"], "final_val_loss": val["loss"],
               **train.sparsity_metrics(kernels),
               "nonzero_params": float(sum(np.count_nonzero(w) for w in weights)),
               "total_params": float(sum(w.size for w in weights))}
    if test_set:
        test = train.evaluate(stripped, splits.x_test, splits.y_test, config.batch_size)
        metrics.update(test_accuracy=test["accuracy"], test_loss=test["loss"])
    return metrics


def _sizes(dense, stripped, folder: Path) -> dict[str, float]:
    """Model files as saved (HDF5, no optimizer) and gzipped: pruned zeros compress."""
    _, dense_bytes, dense_gzip = export.file_sizes(dense, folder, "dense")
    _, pruned_bytes, pruned_gzip = export.file_sizes(stripped, folder, "pruned")
    return {"dense_model_bytes": float(dense_bytes), "dense_model_bytes_gzip": float(dense_gzip),
            "model_bytes": float(pruned_bytes), "model_bytes_gzip": float(pruned_gzip)}


def _tflite(dense, stripped, splits, config, folder: Path, recorder) -> dict[str, float]:
    """TFLite sizes, int8 accuracy and batch-1 latency: what the pruning buys when shipped."""
    calibration = splits.x_train[: config.calibration_samples]
    dense_tflite = export.to_tflite(dense)
    tflite = export.to_tflite(stripped)
    tflite_int8 = export.to_tflite_int8(stripped, calibration,
                                        per_channel=config.int8_granularity == "per_channel")
    int8_path = folder / "model_int8.tflite"
    int8_path.write_bytes(tflite_int8)
    recorder.file(int8_path)
    sample = splits.x_test[0]
    latency = lambda m: export.latency_us(m, sample, config.latency_runs)  # noqa: E731
    metrics = {
        "tflite_bytes": len(tflite), "tflite_bytes_gzip": export.gzip_size(tflite),
        "tflite_int8_bytes": len(tflite_int8),
        "tflite_int8_bytes_gzip": export.gzip_size(tflite_int8),
        "tflite_int8_test_accuracy": export.tflite_accuracy(tflite_int8, splits.x_test,
                                                            splits.y_test),
        "dense_latency_us": latency(dense_tflite), "latency_us": latency(tflite),
        "int8_latency_us": latency(tflite_int8),
    }
    return {k: float(v) for k, v in metrics.items()}


def _tflite_options(stripped, qat, splits, config) -> dict[str, float]:
    """The optional conversions: sparse storage, and int8 after quantization-aware
    training. Each with its size, accuracy and latency, like the standard ones."""
    conversions = {}
    if config.tflite_sparse:
        conversions["tflite_sparse"] = export.to_tflite_sparse(stripped)
    if qat is not None:
        conversions["tflite_qat_int8"] = export.to_tflite_quantized(qat)
    metrics = {}
    for name, tflite in conversions.items():
        metrics.update({
            f"{name}_bytes": len(tflite), f"{name}_bytes_gzip": export.gzip_size(tflite),
            f"{name}_test_accuracy": export.tflite_accuracy(tflite, splits.x_test,
                                                            splits.y_test),
            f"{name}_latency_us": export.latency_us(tflite, splits.x_test[0],
                                                    config.latency_runs)})
    return {k: float(v) for k, v in metrics.items()}


def figures(config, history, window, final_metrics) -> dict[str, object]:
    """The run's plots, from logged data only."""
    fn = schedules.SCHEDULES.get(config.schedule).sparsity
    steps = list(range(window.total_steps + 1))
    target = [schedules.sparsity_in_force(s, window, fn, *config.sparsity_targets(),
                                          config.power) for s in steps]
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
    m = metrics
    initial, final = config.sparsity_targets()
    how = (f"{config.sparsity_m_by_n.replace(',', ':')} structured" if config.m_by_n()
           else f"{config.schedule} {initial:.0%} -> {final:.0%}")
    lines = [f"**{run_name(config)}**: {config.model} on {config.dataset}, {how} over "
             f"retraining steps {config.begin_step}-{config.end_step} (policy "
             f"{config.pruning_policy}, {config.sparsity_distribution} across layers).", ""]
    if "test_accuracy" in m:
        lines.append(f"- test accuracy {m['test_accuracy']:.4f} (dense "
                     f"{m.get('dense_test_accuracy', float('nan')):.4f}"
                     + (f", int8 TFLite {m['tflite_int8_test_accuracy']:.4f})"
                        if "tflite_int8_test_accuracy" in m else ")"))
    lines.append(f"- validation accuracy {m['final_val_accuracy']:.4f}; sparsity "
                 f"{m['sparsity']:.4f} of prunable weights; {m['nonzero_params']:.0f} of "
                 f"{m['total_params']:.0f} params non-zero")
    lines.append(f"- dense file {m['dense_model_bytes'] / 1024:.0f} KB; pruned file gzipped "
                 f"{m['model_bytes_gzip'] / 1024:.0f} KB")
    if "tflite_int8_bytes_gzip" in m:
        lines.append(f"- int8 TFLite {m['tflite_int8_bytes'] / 1024:.0f} KB, gzipped "
                     f"{m['tflite_int8_bytes_gzip'] / 1024:.0f} KB ({m['size_reduction']:.1f}x "
                     "smaller than the dense file)")
        lines.append(f"- batch-1 latency: dense {m['dense_latency_us']:.1f} us; pruned "
                     f"{m['latency_us']:.1f} us, {_speed(m, 'latency_us')}; int8 "
                     f"{m['int8_latency_us']:.1f} us, {_speed(m, 'int8_latency_us')}")
    if "tflite_sparse_bytes" in m:
        lines.append(f"- sparse-storage TFLite {m['tflite_sparse_bytes'] / 1024:.0f} KB (vs "
                     f"{m['tflite_bytes'] / 1024:.0f} KB), accuracy "
                     f"{m['tflite_sparse_test_accuracy']:.4f}, latency "
                     f"{m['tflite_sparse_latency_us']:.1f} us, "
                     f"{_speed(m, 'tflite_sparse_latency_us')}")
    if "tflite_qat_int8_bytes" in m:
        lines.append(f"- pruning-preserving QAT ({config.qat_epochs} epoch(s); sparsity kept "
                     f"{m['qat_sparsity']:.4f}): int8 accuracy "
                     f"{m['tflite_qat_int8_test_accuracy']:.4f} (post-training int8 "
                     f"{m['tflite_int8_test_accuracy']:.4f}), gzipped "
                     f"{m['tflite_qat_int8_bytes_gzip'] / 1024:.0f} KB, latency "
                     f"{m['tflite_qat_int8_latency_us']:.1f} us")
    return "\n".join(lines) + "\n"


def _speed(metrics, key: str) -> str:
    """How `key`'s latency compares with the dense float model's, said plainly."""
    ratio = metrics["dense_latency_us"] / metrics[key]
    if ratio < 1.1:  # within timing noise, or slower
        return f"no speed-up ({ratio:.2f}x the dense speed)"
    return f"{ratio:.1f}x faster than dense"


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
        if stripped is not None:
            self.mlt.log_keras_model(stripped, splits.x_val[:5])


class _PretrainOnly(_Tracked):
    """Pre-training for a study: its own run under the study's; the parent gets no epochs."""
    observers = ()

    def copy_history(self, history): pass
    def tag(self, **tags): pass
