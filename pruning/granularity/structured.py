"""Whole units of Dense layers (`unit`) or whole output channels of Conv2D and units of
Dense (`channel`), with everything tied to them, removed on the pruning schedule, then
cut out: the model ships rebuilt smaller, and runs faster.

The machinery (groups, plan, masks, rebuild, residual blocks) is pruning.granularity.
channels; this class is what the rest of the package sees of it. TensorFlow is imported
by the methods that need it, not here.
"""
from __future__ import annotations

from dataclasses import dataclass

from pruning.errors import ConfigError
from pruning.granularity.base import Granularity, Pruned


@dataclass(frozen=True)
class Channels(Granularity):
    name: str
    kinds: tuple[str, ...]  # the layer classes whose outputs are removed
    removes_blocks: bool = False  # residual blocks may go first (depth pruning)
    saves_latency = True
    share_metric = "channel_sparsity"

    @property
    def removes(self) -> str:
        return f"{self.name}s"

    def check_config(self, config) -> None:
        for option, wrong, why in (
                ("sparsity_m_by_n", bool(config.sparsity_m_by_n), "M-by-N gates weights"),
                ("sparsity_block", bool(config.sparsity_block), "blocks are of weights"),
                ("pruning_policy", config.pruning_policy == "xnnpack",
                 "xnnpack is tfmot's weight policy; use all or pointwise"),
                ("prune_output", config.prune_output, "an output unit is a class")):
            if wrong:
                raise ConfigError(option, f"{option}={getattr(config, option)!r} needs "
                                  f"granularity=weight, not {self.name!r} ({why})")

    def needs_model_check(self, config, builtin: bool) -> bool:
        return True  # the plan and the rebuild depend on the model's graph

    def check(self, model, config, window) -> None:
        from pruning.granularity.channels import checks

        checks.check(model, config, self.kinds)

    def prune(self, dense, splits, config, window, observers, step_offset) -> Pruned:
        from pruning.granularity.channels import pruning
        from pruning.sparsity import policies

        model, masks, history, small = pruning.retrain(dense, splits, config, window,
                                                       self.kinds, observers, step_offset)
        metrics = {**policies.sparsity_metrics(policies.prunable_kernels(model, config)),
                   **masks.metrics()}
        return Pruned(small, metrics, history,
                      {"channel_groups.md": masks.plan.describe(masks.keep)})

    def probe(self, dense, config, splits):
        from pruning.granularity.channels.probe import ChannelProbe

        return ChannelProbe(dense, config, self.kinds, splits)

    def one_shot(self, dense, config, sparsity: float, splits):
        """Channels removed at once and cut out by the code `run` ships with: (the smaller
        model, metrics, None: nothing to hold, the zeros are gone)."""
        from pruning.granularity.channels import pruning

        return pruning.one_shot_rebuilt(dense, config, sparsity, self.kinds, splits)

    # -- words -------------------------------------------------------------------------
    def name_part(self, config) -> str:
        # 50% of channels is not 50% of weights: names say which was counted.
        blocks = (f"{config.residual_blocks_removed}blocks-"
                  if config.residual_blocks_removed else "")
        return f"{self.name}-{blocks}"

    def share_of(self, config) -> str:
        if config.sparsity_distribution == "latency":
            return "the dense int8 latency" + (
                f" (of the model without {config.residual_blocks_removed} residual blocks)"
                if config.residual_blocks_removed else "")
        return self.removes

    def schedule_axis(self, config) -> str:
        if config.sparsity_distribution == "latency":  # the schedule is time, the dots channels
            return f"latency share (lines), share of {self.removes} removed (dots)"
        return f"share of {self.removes} removed"

    def how(self, config, schedule: str) -> str:
        how = f"whole {self.removes} removed, {schedule} of {self.share_of(config)}"
        if config.residual_blocks_removed:
            how = (f"{config.residual_blocks_removed} residual blocks removed first "
                   f"(channel_groups.md names them), then {how}")
        if config.sparsity_distribution == "latency":
            how += " (as the curves' groups pruned alone add up)"
        return how

    def removed_line(self, config, m: dict[str, float]) -> str:
        return (f"{m['channel_sparsity']:.1%} of the {self.removes} it could prune removed "
                "(channel_groups.md), rebuilt smaller"
                + (" after the last mask update and fine-tuned so" if config.finetune_rebuilt
                   else "")
                + f": {m['total_params']:.0f} params"
                + (f" (dense {m['dense_params']:.0f})" if "dense_params" in m else ""))

    def removed_short(self, m: dict[str, float]) -> str:
        return f"{m['channel_sparsity']:.1%} of {self.removes} removed"

    def progress(self, config, m: dict[str, float]) -> str:
        if "channel_sparsity" not in m:
            return ""
        if config.sparsity_distribution == "latency":
            return (f" {self.removes} removed {m['channel_sparsity']:.3f} (latency share "
                    f"targeted {m['target_sparsity']:.3f})")
        return (f" {self.removes} removed {m['channel_sparsity']:.3f}/"
                f"{m['target_sparsity']:.3f} (weights {m['sparsity']:.3f})")

    def phases(self, config, window, steps_per_epoch: int) -> list[tuple[int, str]]:
        """Where the rebuilt model took over from the masked one, if it did."""
        from pruning.sparsity import schedules

        if not config.finetune_rebuilt:
            return []
        masked = schedules.epochs_until(window.end_step, steps_per_epoch)
        if masked >= config.retrain_epochs:
            return []
        return [(config.dense_epochs + masked, "masks fixed: the rebuilt model trains")]
