"""*When* the masks change: sparsity as a pure function of the training step.

The pure functions reproduce tfmot's schedules exactly (tests compare them
value by value) so that the target sparsity of any step can be logged and
plotted without a TensorFlow graph. `build` makes the tfmot object that
actually drives `prune_low_magnitude`.

Step counting follows tfmot: `UpdatePruningStep` sets the step to 0 when
training starts and every training batch increments it before the mask
update, so the first batch runs at step 1 and step 0 never updates a mask.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from .errors import ConfigError
from .registry import Registry


@dataclass(frozen=True)
class Window:
    """The resolved pruning window, in retraining steps."""
    begin_step: int
    end_step: int
    frequency: int
    total_steps: int


def polynomial_decay(step: int, initial_sparsity: float, final_sparsity: float,
                     begin_step: int, end_step: int, power: float) -> float:
    """tfmot PolynomialDecay's sparsity at `step` (clipped to the window)."""
    p = min(1.0, max(0.0, (step - begin_step) / (end_step - begin_step)))
    return final_sparsity + (initial_sparsity - final_sparsity) * (1.0 - p) ** power


def constant_sparsity(step: int, initial_sparsity: float, final_sparsity: float,
                      begin_step: int, end_step: int, power: float) -> float:
    """tfmot ConstantSparsity: final_sparsity at every update."""
    return final_sparsity


def is_update_step(step: int, window: Window) -> bool:
    """Whether tfmot recomputes the masks at `step`."""
    return (step >= 1 and window.begin_step <= step <= window.end_step
            and (step - window.begin_step) % window.frequency == 0)


def last_update_step(step: int, window: Window) -> int | None:
    """The latest mask-update step <= `step`, or None before the first update."""
    if step < max(window.begin_step, 1):
        return None
    last = window.begin_step + (min(step, window.end_step) - window.begin_step) \
        // window.frequency * window.frequency
    return last if last >= 1 else None


def sparsity_in_force(step: int, window: Window, fn, initial_sparsity: float,
                      final_sparsity: float, power: float) -> float:
    """The sparsity the masks hold after `step` training steps (0 before pruning)."""
    last = last_update_step(step, window)
    if last is None:
        return 0.0
    return fn(last, initial_sparsity, final_sparsity, window.begin_step, window.end_step, power)


def steps_per_epoch(n_samples: int, batch_size: int) -> int:
    return math.ceil(n_samples / batch_size)


def epochs_until(step: int, steps_per_epoch: int) -> int:
    """Whole epochs that include retraining step `step` (the first batch is step 1)."""
    return math.ceil(step / steps_per_epoch)


def resolve_window(config, steps_per_epoch: int) -> Window:
    """begin_step/end_step from the config, or from begin/end_fraction of the retraining.

    An automatic end_step is begin_step plus a whole number of `frequency`
    steps, so the last update lands on end_step and reaches final_sparsity.
    With `mask_updates`, frequency is derived from the span instead: valid on any
    dataset size, which is why a search uses it rather than frequency.
    """
    total = config.retrain_epochs * steps_per_epoch
    begin = config.begin_step
    if begin is None:
        begin = int(math.floor(config.begin_fraction * total))
    end = config.end_step
    frequency = config.frequency
    if config.mask_updates is not None:
        span = (end if end is not None else int(math.floor(config.end_fraction * total))) - begin
        updates = max(1, min(config.mask_updates, span))
        frequency = max(1, span // updates)
        end = begin + updates * frequency
    elif end is None:
        updates = int(math.floor((config.end_fraction * total - begin) / frequency))
        if updates < 1:
            raise ConfigError("frequency", f"frequency={frequency} leaves no mask update "
                              f"between begin_step={begin} and end_fraction={config.end_fraction} "
                              f"of the {total} retraining steps; lower frequency, retrain longer "
                              "or set mask_updates")
        end = begin + updates * frequency
    if end <= begin:
        raise ConfigError("end_step", f"end_step={end} must be greater than begin_step={begin}")
    if (end - begin) % frequency:
        raise ConfigError("end_step", f"end_step - begin_step = {end - begin} must be a multiple "
                          f"of frequency={frequency}")
    if end > total:
        raise ConfigError("end_step", f"end_step={end} is past the last retraining step {total} "
                          f"({config.retrain_epochs} epochs x {steps_per_epoch} steps); "
                          "allowed: begin_step < end_step <= " + str(total))
    return Window(begin, end, frequency, total)


def _tfmot_polynomial_decay(config, window: Window):
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=config.initial_sparsity, final_sparsity=config.final_sparsity,
        begin_step=window.begin_step, end_step=window.end_step, power=config.power,
        frequency=window.frequency)


def _tfmot_constant_sparsity(config, window: Window):
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras.ConstantSparsity(
        target_sparsity=config.final_sparsity, begin_step=window.begin_step,
        end_step=window.end_step, frequency=window.frequency)


@dataclass(frozen=True)
class Schedule:
    sparsity: Callable[..., float]  # the pure function, for logging and plots
    make: Callable  # (config, window) -> the tfmot schedule that drives the masks


SCHEDULES = Registry("schedule")
SCHEDULES.register("polynomial_decay")(Schedule(polynomial_decay, _tfmot_polynomial_decay))
SCHEDULES.register("constant_sparsity")(Schedule(constant_sparsity, _tfmot_constant_sparsity))


def build(config, window: Window):
    """The tfmot schedule object for `config.schedule` over `window`."""
    return SCHEDULES.get(config.schedule).make(config, window)
