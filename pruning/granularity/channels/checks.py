"""Whether channel pruning can prune a starting model as configured: checked before any
run or training, on the untrained (or loaded) model."""
from __future__ import annotations

import numpy as np

from pruning.errors import ConfigError
from pruning.granularity.channels import plan as channel_plan
from pruning.granularity.channels import rebuild, residual_blocks


def check(model, config, kinds: tuple[str, ...]) -> None:
    if config.residual_blocks_removed:
        found = residual_blocks.blocks(model)
        if config.residual_blocks_removed > len(found):
            raise ConfigError("residual_blocks_removed", f"residual_blocks_removed="
                              f"{config.residual_blocks_removed}: model={config.model!r} "
                              f"has {len(found)} residual blocks"
                              + (f" ({', '.join(b.name for b in found)})" if found else ""))
        # Which blocks go is known once they are ranked on the trained model; the
        # curves are checked against that model (pruning.prepare).
    plan = channel_plan.make_plan(model, config, kinds)
    if not config.residual_blocks_removed:
        plan.targets(config)  # sensitivity curves must cover the groups
    if not plan.groups:
        why = "; ".join(f"{names}: {reason}" for names, reason in plan.left) or "none"
        raise ConfigError("granularity", f"granularity={config.granularity}: model="
                          f"{config.model!r} has no {'/'.join(kinds)} channels it "
                          f"can remove (use granularity=weight); groups: {why}")
    # Cutting one channel from every group must rebuild: a layer that cannot lose
    # channels fails here, before any training.
    keep = {name: np.arange(g.channels) > 0 for g in plan.groups for name in g.producers}
    rebuild.rebuild(model, keep)
