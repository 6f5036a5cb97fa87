"""Dense pre-training and pruned retraining: the fit calls, and nothing about MLflow.

Both phases report to `Observer`s (tracking, progress printing, Optuna's
trial reporting) at each epoch end; training runs the same with none. This
module owns the pruning fit call, so `UpdatePruningStep` is never forgotten.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import (
    PruneLowMagnitude,
)

from . import masks as mask_math
from . import (augment, distillation, distributions, dropout, model_checks, policies,
               schedules, sensitivity_curves)
from .observers import Observer
from .schedules import steps_per_epoch


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class Phase:
    name: str  # "pretrain" or "retrain"
    epochs: int
    lr: float
    step_offset: int  # epochs logged before this phase
    dropout_scale: float = 1.0  # times each Dropout's rate while this phase trains
    # A phase may be part of a longer learning-rate schedule: `schedule_epochs` long (None:
    # this phase's own), of which `schedule_start` epochs ran before it.
    schedule_epochs: int | None = None
    schedule_start: int = 0

    def split(self, epochs: int) -> tuple["Phase", "Phase | None"]:
        """This phase's first `epochs` and the rest (None when nothing is left), on one
        learning-rate schedule: the rest picks it up where the first part left it."""
        if epochs >= self.epochs:
            return self, None
        total = self.schedule_epochs or self.epochs
        head = dataclasses.replace(self, epochs=epochs, schedule_epochs=total)
        tail = dataclasses.replace(self, epochs=self.epochs - epochs,
                                   step_offset=self.step_offset + epochs,
                                   schedule_epochs=total,
                                   schedule_start=self.schedule_start + epochs)
        return head, tail

    @classmethod
    def retraining(cls, config, step_offset: int) -> "Phase":
        """The phase that prunes, whatever the granularity."""
        return cls("retrain", config.retrain_epochs, config.retrain_lr, step_offset,
                   config.retrain_dropout_scale)


class _Resumed(keras.optimizers.schedules.LearningRateSchedule):
    """`schedule` picked up `offset` steps in (the second part of a split phase)."""

    def __init__(self, schedule, offset: int):
        self.schedule, self.offset = schedule, offset

    def __call__(self, step):
        return self.schedule(step + self.offset)

    def get_config(self):
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule),
                "offset": self.offset}


def _optimizer(phase: Phase, config, steps: int):
    lr = phase.lr
    if config.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(
            phase.lr, decay_steps=(phase.schedule_epochs or phase.epochs) * steps)
        if phase.schedule_start:
            lr = _Resumed(lr, phase.schedule_start * steps)
    if not config.weight_decay:
        return keras.optimizers.Adam(learning_rate=lr)  # AdamW at 0 decay costs ~5% time
    optimizer = keras.optimizers.AdamW(learning_rate=lr, weight_decay=config.weight_decay)
    # Decay shrinks the weights that carry nothing (e.g. those of always-black pixels), so
    # magnitude pruning removes them first; biases and BatchNorm are not decayed.
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def _current_lr(optimizer) -> float:
    lr = optimizer.learning_rate
    if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
        lr = lr(optimizer.iterations)
    return float(keras.backend.get_value(lr))


def pruned_wrappers(model) -> list:
    return [layer for layer in model.layers
            if isinstance(layer, PruneLowMagnitude)]


def current_masks(model) -> dict[str, np.ndarray]:
    """{layer name: kept-weights mask} of a model wrapped for pruning."""
    # Dense and Conv2D have one prunable weight (the kernel), hence one mask each.
    return {wrapper.layer.name: wrapper.pruning_vars[0][1].numpy().astype(bool)
            for wrapper in pruned_wrappers(model)}


def prunable_kernels(model, config) -> dict[str, np.ndarray]:
    """{layer name: kernel} of the layers config's pruning policy applies to, wrapped or
    not."""
    policy = policies.of(config, model)
    out = {}
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if policy.allow_pruning(inner):
            out[inner.name] = _kernel(layer, inner)
    return out


def _kernel(layer, inner) -> np.ndarray:
    if hasattr(inner.kernel, "numpy"):
        return inner.kernel.numpy()
    # A quantize wrapper swaps the kernel attribute for its fake-quantized tensor; the
    # trained variable is still among the wrapper's weights.
    return next(w for w in layer.weights if w.name.endswith("/kernel:0")).numpy()


def sparsity_metrics(kernels: dict[str, np.ndarray]) -> dict[str, float]:
    metrics = {"sparsity": mask_math.sparsity(kernels.values())}
    metrics.update({f"sparsity/{name}": mask_math.sparsity([k]) for name, k in kernels.items()})
    return metrics


class _Monitor(keras.callbacks.Callback):
    """Collects one epoch's metrics (one dict, one call to each observer)."""

    def __init__(self, phase: Phase, observers, extra=None):
        super().__init__()
        self.phase, self.observers, self.extra = phase, observers, extra
        self.history: list[dict[str, float]] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.began = time.time(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        metrics = {k: float(v) for k, v in (logs or {}).items()}
        metrics["lr"] = _current_lr(self.model.optimizer)
        # What the epoch cost, and whether the machine gave it its cores: the same epoch
        # took 55 s on 1.8 cores and 102 s on 1.0 here, with nothing else running.
        seconds = time.time() - self.began[0]
        metrics["epoch_seconds"] = seconds
        metrics["epoch_cores"] = (time.process_time() - self.began[1]) / max(seconds, 1e-9)
        if self.extra is not None:
            metrics.update(self.extra(self.model, epoch))
        self.history.append(metrics)
        if not all(math.isfinite(v) for k, v in metrics.items() if "loss" in k):
            # Stop before observers see a diverged epoch as a result.
            self.model.stop_training = True
            return
        for observer in self.observers:
            observer.epoch_end(self.phase.step_offset + epoch, metrics)


def fit(model, splits, config, phase: Phase, observers, callbacks=(), extra=None,
        teacher=None):
    """model.fit for one phase; with a `teacher` (the dense model, while pruning) and
    config.distill_weight > 0, the model also learns from the teacher's outputs."""
    keras.utils.set_random_seed(config.seed)
    if phase.dropout_scale != 1.0:
        dropout.rescale(model, phase.dropout_scale)
    steps = steps_per_epoch(len(splits.x_train), config.batch_size)
    model.compile(optimizer=_optimizer(phase, config, steps),
                  loss=model_checks.loss_for(model, splits.x_val), metrics=["accuracy"])
    monitor = _Monitor(phase, observers, extra)
    callbacks = [*callbacks, *distillation.attach(model, teacher, config, splits.x_val)]
    model.fit(**augment.fit_inputs(splits.x_train, splits.y_train, config), epochs=phase.epochs,
              validation_data=(splits.x_val, splits.y_val), verbose=0,
              callbacks=[*callbacks, monitor])
    last = monitor.history[-1] if monitor.history else {}
    if not all(math.isfinite(v) for k, v in last.items() if "loss" in k):
        raise TrainingDiverged(f"{phase.name}: loss became {last.get('loss')} in epoch "
                               f"{len(monitor.history)}; lower the learning rate")
    return monitor.history


def pretrain(model, splits, config, observers=()) -> list[dict[str, float]]:
    """Dense training; returns the per-epoch metrics."""
    phase = Phase("pretrain", config.dense_epochs, config.pretrain_lr, 0)
    return fit(model, splits, config, phase, observers)


def wrap_for_pruning(dense_model, config, window: schedules.Window):
    """A copy of `dense_model` with its prunable layers wrapped by tfmot.

    The copy keeps the dense model intact: clone_model reuses the layers it is
    handed back, so wrapping the original would prune it in place.
    """
    copy = keras.models.clone_model(dense_model)
    copy.set_weights(dense_model.get_weights())
    if config.sparsity_distribution == "uniform":
        return tfmot.sparsity.keras.prune_low_magnitude(
            copy, pruning_schedule=schedules.build(config, window),
            pruning_policy=policies.of(config, copy), sparsity_m_by_n=config.m_by_n())
    # One schedule per layer, each with its own share of the model-wide targets (a layer
    # left dense is still wrapped, at 0%, so masks and metrics cover the same layers as
    # uniform). clone_model hands the copy's layers, with their weights, to the wrapper.
    targets = layer_targets(copy, config)

    def wrap(layer):
        if layer.name not in targets:
            return layer
        initial, final = targets[layer.name]
        schedule = schedules.build(
            config.replace(initial_sparsity=initial, final_sparsity=final), window)
        return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)

    return keras.models.clone_model(copy, clone_function=wrap)


def layer_targets(model, config) -> dict[str, tuple[float, float]]:
    """{layer: (initial_sparsity, final_sparsity)} of every layer the policy prunes, as
    config.sparsity_distribution shares the model-wide targets out."""
    shapes = {name: kernel.shape for name, kernel in prunable_kernels(model, config).items()}
    return distributions.layer_sparsities(config.sparsity_distribution, shapes,
                                          *config.sparsity_targets(),
                                          sensitivity_curves.curves_of(config))


def target_sparsity(step: int, window: schedules.Window, config) -> float:
    """The model-wide sparsity the schedule holds after `step` retraining steps."""
    fn = schedules.SCHEDULES.get(config.schedule).sparsity
    return schedules.sparsity_in_force(step, window, fn, *config.sparsity_targets(),
                                       config.power)


class MaskSnapshots:
    """Every config.mask_log_every retraining epochs and at the last: the masks to the
    observers, and the share of mask bits changed since the previous snapshot. The same
    for every granularity."""

    def __init__(self, config, observers, step_offset: int):
        self.config, self.observers, self.step_offset = config, observers, step_offset
        self.previous = None

    def __call__(self, epoch: int, masks_now) -> dict[str, float]:
        every, final = self.config.mask_log_every, epoch == self.config.retrain_epochs - 1
        if not (final or (every and (epoch + 1) % every == 0)):
            return {}
        current, metrics = masks_now(), {}
        if self.previous is not None:
            metrics["mask_change"] = mask_math.changed_fraction(self.previous, current)
        self.previous = current
        for observer in self.observers:
            observer.mask_snapshot(self.step_offset + epoch, current, final)
        return metrics


def retrain(dense_model, splits, config, window: schedules.Window, observers=(),
            step_offset: int = 0):
    """Gradual magnitude pruning while retraining; returns (pruned model, history).

    The returned model still carries the pruning wrappers (see export.strip).
    """
    model = wrap_for_pruning(dense_model, config, window)
    snapshots = MaskSnapshots(config, observers, step_offset)

    def extra(model, epoch):
        step = int(pruned_wrappers(model)[0].pruning_step.numpy())
        # Model-wide: a distribution's per-layer schedules are linear in their ends, so
        # their size-weighted mean follows the model-wide schedule exactly.
        return {"target_sparsity": target_sparsity(step, window, config),
                **sparsity_metrics(prunable_kernels(model, config)),
                **snapshots(epoch, lambda: current_masks(model))}

    phase = Phase.retraining(config, step_offset)
    history = fit(model, splits, config, phase, observers,
                  callbacks=[tfmot.sparsity.keras.UpdatePruningStep()], extra=extra,
                  teacher=dense_model)
    return model, history


class Prefixed(Observer):
    """Passes epochs on under prefixed names: a phase's own metric series."""

    def __init__(self, prefix: str, observers):
        self.prefix, self.observers = prefix, observers

    def epoch_end(self, step, metrics):
        for observer in self.observers:
            observer.epoch_end(step, {self.prefix + k: v for k, v in metrics.items()})


def evaluate(model, x, y, batch_size: int) -> dict[str, float]:
    if model.compiled_loss is None:  # e.g. a freshly stripped or loaded model
        model.compile(loss=model_checks.loss_for(model, x), metrics=["accuracy"])
    loss, accuracy = model.evaluate(x, y, batch_size=batch_size, verbose=0)
    return {"loss": float(loss), "accuracy": float(accuracy)}
