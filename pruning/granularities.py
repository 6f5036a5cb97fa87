"""*What* pruning removes, by name: single weights (tfmot), whole units of Dense layers, or
whole channels of convs and units of Dense layers.

Each granularity says how it checks a model before any run, how it prunes while
retraining (and one layer at a time, for sensitivity analysis), and how the result
becomes the model that ships: stripped of tfmot's wrappers (`weight`), or rebuilt
smaller (`unit`, `channel`). Importing this module imports no TensorFlow (the config
validates names against it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ConfigError
from .registry import Registry

GRANULARITIES = Registry("granularity")


@dataclass
class Pruned:
    shipped: object  # the model evaluated, measured, logged and registered
    metrics: dict[str, float]  # what was removed: sparsity, per layer, per group
    history: list[dict[str, float]]
    texts: dict[str, str] = field(default_factory=dict)  # artifacts: name -> Markdown


class Weights:
    """tfmot's gradual magnitude pruning of single weights; zeros stay in dense kernels."""
    structured = False

    def check(self, model, config, window) -> None:
        from . import prunability

        prunability.check_tfmot(model, config, window)

    def prune(self, dense, splits, config, window, observers, step_offset) -> Pruned:
        from . import export, train

        pruned, history = train.retrain(dense, splits, config, window, observers, step_offset)
        stripped = export.strip(pruned)
        return Pruned(stripped, train.sparsity_metrics(train.prunable_kernels(stripped, config)),
                      history)

    def probe(self, dense, config, splits=None):
        """What sensitivity analysis prunes one at a time: each layer's weights."""
        from .sensitivity import WeightProbe

        return WeightProbe(dense, config)


@dataclass(frozen=True)
class Channels:
    """Whole output channels of `kinds` layers (with everything tied to them) removed on
    the pruning schedule, then cut out: a smaller dense model."""
    kinds: tuple[str, ...]
    structured = True

    def plan(self, model, config):
        from . import channel_plan

        return channel_plan.make_plan(model, config, self.kinds)

    def check(self, model, config, window) -> None:
        import numpy as np

        from . import rebuild

        if config.residual_blocks_removed:
            from . import residual_blocks

            found = residual_blocks.blocks(model)
            if config.residual_blocks_removed > len(found):
                raise ConfigError("residual_blocks_removed", f"residual_blocks_removed="
                                  f"{config.residual_blocks_removed}: model={config.model!r} "
                                  f"has {len(found)} residual blocks"
                                  + (f" ({', '.join(b.name for b in found)})" if found else ""))
            # Which blocks go is known once they are ranked on the trained model; the
            # curves are checked against that model (structured.prepare).
        plan = self.plan(model, config)
        if not config.residual_blocks_removed:
            plan.targets(config)  # sensitivity curves must cover the groups
        if not plan.groups:
            why = "; ".join(f"{names}: {reason}" for names, reason in plan.left) or "none"
            raise ConfigError("granularity", f"granularity={config.granularity}: model="
                              f"{config.model!r} has no {'/'.join(self.kinds)} channels it "
                              f"can remove (use granularity=weight); groups: {why}")
        # Cutting one channel from every group must rebuild: a layer that cannot lose
        # channels fails here, before any training.
        keep = {name: np.arange(g.channels) > 0 for g in plan.groups
                for name in g.producers}
        rebuild.rebuild(model, keep)

    def prune(self, dense, splits, config, window, observers, step_offset) -> Pruned:
        from . import structured, train

        model, masks, history, small = structured.retrain(dense, splits, config, window,
                                                          self.kinds, observers, step_offset)
        metrics = {**train.sparsity_metrics(train.prunable_kernels(model, config)),
                   **masks.metrics()}
        return Pruned(small, metrics, history,
                      {"channel_groups.md": masks.plan.describe(masks.keep)})

    def probe(self, dense, config, splits):
        """What sensitivity analysis prunes one at a time: each group's channels (of the
        model without config.residual_blocks_removed blocks)."""
        from .sensitivity import ChannelProbe

        return ChannelProbe(dense, config, self.kinds, splits)


GRANULARITIES.register("weight")(Weights())
GRANULARITIES.register("unit")(Channels(("Dense",)))
GRANULARITIES.register("channel")(Channels(("Conv2D", "Dense")))
