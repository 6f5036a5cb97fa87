"""The fit call of every phase (dense pre-training, pruned retraining, fine-tuning,
clustering, QAT) and evaluation; nothing about MLflow and nothing about what is pruned.

Every phase reports to `Observer`s (tracking, progress printing, Optuna's trial
reporting) at each epoch end; training runs the same with none. The granularities own
their pruning callbacks (tfmot's `UpdatePruningStep` is added by the only code that
wraps a model for tfmot, pruning.granularity.tfmot_pruning).
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import tf_keras as keras

from pruning.models import checks as model_checks
from pruning.observers import Observer, stop_if_asked
from pruning.sparsity.schedules import steps_per_epoch
from pruning.training import augment, distillation, dropout


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


class _Monitor(keras.callbacks.Callback):
    """Collects one epoch's metrics (one dict, one call to each observer)."""

    def __init__(self, phase: Phase, observers, extra=None):
        super().__init__()
        self.phase, self.observers, self.extra = phase, observers, extra
        self.history: list[dict[str, float]] = []

    def on_epoch_begin(self, epoch, logs=None):
        stop_if_asked()
        self.began = time.time(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        metrics = {k: float(v) for k, v in (logs or {}).items()}
        metrics["lr"] = _current_lr(self.model.optimizer)
        # What the epoch cost, and whether the machine gave it its cores: an epoch on one
        # of two cores takes twice as long, and that is the machine, not the code.
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
            getattr(observer, "epoch_end", lambda *_: None)(self.phase.step_offset + epoch,
                                                            metrics)
        stop_if_asked()


def fit(model, splits, config, phase: Phase, observers, callbacks=(), extra=None,
        teacher=None):
    """model.fit for one phase; with a `teacher` (the dense model, while pruning) and
    config.distill_weight > 0, the model also learns from the teacher's outputs (those
    in splits.teacher_outputs, when another model's were stored there)."""
    keras.utils.set_random_seed(config.seed)
    if phase.dropout_scale != 1.0:
        dropout.rescale(model, phase.dropout_scale)
    steps = steps_per_epoch(len(splits.x_train), config.batch_size)
    model.compile(optimizer=_optimizer(phase, config, steps),
                  loss=model_checks.loss_for(model, splits.x_val), metrics=["accuracy"])
    monitor = _Monitor(phase, observers, extra)
    distilling, y_train = distillation.attach(model, teacher, config, splits.x_val,
                                              splits.y_train, splits.teacher_outputs)
    callbacks = [*callbacks, *distilling]
    model.fit(**augment.fit_inputs(splits.x_train, y_train, config), epochs=phase.epochs,
              validation_data=augment.batched(splits.x_val, splits.y_val, config.batch_size),
              verbose=0,
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


class Prefixed(Observer):
    """Passes epochs on under prefixed names: a phase's own metric series."""

    def __init__(self, prefix: str, observers):
        self.prefix, self.observers = prefix, observers

    def epoch_end(self, step, metrics):
        for observer in self.observers:
            getattr(observer, "epoch_end", lambda *_: None)(
                step, {self.prefix + k: v for k, v in metrics.items()})


def evaluate(model, x, y, batch_size: int) -> dict[str, float]:
    if model.compiled_loss is None:  # e.g. a freshly stripped or loaded model
        model.compile(loss=model_checks.loss_for(model, x), metrics=["accuracy"])
    loss, accuracy = model.evaluate(x, y, batch_size=batch_size, verbose=0)
    return {"loss": float(loss), "accuracy": float(accuracy)}


def accuracy(model, x, y, batch_size: int = 256) -> float:
    """The share of `x` that `model` classifies as `y`, by calling it on slices: no
    compile and no tf.function to trace, which for a model seen once (each residual
    block's removal, costed) takes longer than the evaluation (bench/rank_blocks.py)."""
    outputs = np.concatenate([np.asarray(model(x[i:i + batch_size], training=False))
                              for i in range(0, len(x), batch_size)])
    return float(np.mean(outputs.argmax(-1) == y))
