"""*When* the masks change: sparsity as a pure function of the training step.

The pure functions reproduce tfmot's schedules exactly (tests compare them
value by value) so that the target sparsity of any step can be logged and
plotted without a TensorFlow graph; each names the tfmot class that actually drives
`prune_low_magnitude` (built by pruning.granularity.tfmot_pruning).

Step counting follows tfmot: `UpdatePruningStep` sets the step to 0 when
training starts and every training batch increments it before the mask
update, so the first batch runs at step 1 and step 0 never updates a mask.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from pruning.errors import ConfigError
from pruning.registry import Registry


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


def resolve_window(steps_per_epoch: int, retrain_epochs: int, begin_step: int | None,
                   end_step: int | None, frequency: int, mask_updates: int | None,
                   begin_fraction: float, end_fraction: float) -> Window:
    """begin_step/end_step as given, or from begin/end_fraction of the retraining (None:
    auto).

    An automatic end_step is begin_step plus a whole number of `frequency`
    steps, so the last update lands on end_step and reaches final_sparsity.
    With `mask_updates`, frequency is derived from the span instead: valid on any
    dataset size, which is why a search uses it rather than frequency.
    """
    total = retrain_epochs * steps_per_epoch
    begin = begin_step
    if begin is None:
        begin = int(math.floor(begin_fraction * total))
    end = end_step
    if mask_updates is not None:
        span = (end if end is not None else int(math.floor(end_fraction * total))) - begin
        updates = max(1, min(mask_updates, span))
        frequency = max(1, span // updates)
        end = begin + updates * frequency
    elif end is None:
        updates = int(math.floor((end_fraction * total - begin) / frequency))
        if updates < 1:
            raise ConfigError("frequency", f"frequency={frequency} leaves no mask update "
                              f"between begin_step={begin} and end_fraction={end_fraction} "
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
                          f"({retrain_epochs} epochs x {steps_per_epoch} steps); "
                          "allowed: begin_step < end_step <= " + str(total))
    return Window(begin, end, frequency, total)


def _polynomial_decay_args(initial_sparsity: float, final_sparsity: float, power: float,
                           window: Window) -> dict:
    return dict(initial_sparsity=initial_sparsity, final_sparsity=final_sparsity,
                begin_step=window.begin_step, end_step=window.end_step, power=power,
                frequency=window.frequency)


def _constant_sparsity_args(initial_sparsity: float, final_sparsity: float, power: float,
                            window: Window) -> dict:
    return dict(target_sparsity=final_sparsity, begin_step=window.begin_step,
                end_step=window.end_step, frequency=window.frequency)


@dataclass(frozen=True)
class Schedule:
    sparsity: Callable[..., float]  # the pure function, for logging and plots
    # The tfmot class that drives the masks (tensorflow_model_optimization.sparsity.keras),
    # and its arguments from (initial, final, power, window): built where masks train.
    tfmot_class: str
    tfmot_args: Callable[..., dict]


SCHEDULES = Registry("schedule")
SCHEDULES.register("polynomial_decay")(
    Schedule(polynomial_decay, "PolynomialDecay", _polynomial_decay_args))
SCHEDULES.register("constant_sparsity")(
    Schedule(constant_sparsity, "ConstantSparsity", _constant_sparsity_args))


def sparsity_at(name: str, step: int, window: Window, initial_sparsity: float,
                final_sparsity: float, power: float) -> float:
    """The sparsity schedule `name` holds after `step` retraining steps (0 before pruning)."""
    return sparsity_in_force(step, window, SCHEDULES.get(name).sparsity, initial_sparsity,
                             final_sparsity, power)
