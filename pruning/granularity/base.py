"""The granularity protocol: *what* pruning removes, and everything that follows from it.

A granularity checks a config (cheaply, no TensorFlow: the config calls it when built)
and a starting model (before any run exists), prunes while retraining, prunes one
layer or group at a time for sensitivity analysis and at once for a sweep, and says
what ships: the model stripped of tfmot's wrappers, or rebuilt smaller. It also owns
its words: what the schedule counts, how run names and notes say it. The code above it
never asks which granularity it holds.

Adding one (blocks, N:M as its own, attention heads): a module with a subclass of
`Granularity` and one line in `pruning.granularity.GRANULARITIES` (docs/architecture.md).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field


@dataclass
class Pruned:
    shipped: object  # the model evaluated, measured, logged and registered
    metrics: dict[str, float]  # what was removed: sparsity, per layer, per group
    history: list[dict[str, float]]
    texts: dict[str, str] = field(default_factory=dict)  # artifacts: name -> Markdown


class Granularity(ABC):
    name: str  # its registry name, the config's `granularity`
    removes: str  # what the schedule counts, in words: "weights", "channels", ...
    saves_latency: bool  # whether what it removes makes the int8 model faster
    share_metric: str  # the metric that follows the schedule ("sparsity", ...)

    # -- before anything runs ------------------------------------------------------
    def check_config(self, config) -> None:
        """Raises ConfigError for an option this granularity cannot honour (no TensorFlow)."""

    @abstractmethod
    def needs_model_check(self, config, builtin: bool) -> bool:
        """Whether `check` must run on the starting model (a built-in model with the
        default options is known to prune)."""

    @abstractmethod
    def check(self, model, config, window) -> None:
        """Refuse a starting model this granularity cannot prune, before training."""

    # -- pruning -----------------------------------------------------------------------
    @abstractmethod
    def prune(self, dense, splits, config, window, observers, step_offset: int) -> Pruned:
        """Gradual pruning while retraining, and the model that ships."""

    @abstractmethod
    def probe(self, dense, config, splits):
        """What sensitivity analysis prunes one at a time: an object with `model`, `units`
        ({name: shape}), `prune(name, sparsity)`, `restore(name)` and, where pruning
        saves latency, `int8(splits)` and `removed_line()`."""

    @abstractmethod
    def one_shot(self, dense, config, sparsity: float, splits):
        """(the model that would ship, pruned at once to `sparsity`, its metrics): a sweep's
        point. Where it ships rebuilt smaller, the metrics say so (`shrunk_*`)."""

    # -- words ---------------------------------------------------------------------------
    def name_part(self, config) -> str:
        """What run and model names say of it after the model and data ('' or 'channel-')."""
        return ""

    def share_of(self, config) -> str:
        """What initial/final_sparsity are shares of."""
        return self.removes

    def schedule_axis(self, config) -> str:
        return f"share of {self.removes} removed"

    def how(self, config, schedule: str) -> str:
        """The note's account of how the schedule was applied."""
        return schedule

    def removed_line(self, config, metrics: dict[str, float]) -> str:
        """The note's line on what was removed, after the validation accuracy."""
        return (f"sparsity {metrics['sparsity']:.4f} of prunable weights; "
                f"{metrics['nonzero_params']:.0f} of {metrics['total_params']:.0f} params "
                "non-zero")

    def removed_short(self, metrics: dict[str, float]) -> str:
        """What the result line and the progress line say was removed."""
        return f"sparsity {metrics['sparsity']:.3f}"

    def progress(self, config, metrics: dict[str, float]) -> str:
        """An epoch's progress line's account of the schedule."""
        return (f" sparsity {metrics['sparsity']:.3f}/{metrics['target_sparsity']:.3f}"
                if "sparsity" in metrics else "")

    def phases(self, config, window, steps_per_epoch: int) -> list[tuple[int, str]]:
        """(epoch, what changed there) marks on the training curves beyond pruning's start."""
        return []
