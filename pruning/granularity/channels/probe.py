"""What sensitivity analysis prunes one at a time at channel granularity: each group's
channels, with the weights tied to them (next layer's inputs, BatchNorm, depthwise)."""
from __future__ import annotations

from pruning.granularity.channels import pruning as structured
from pruning.granularity.channels import rebuild
from pruning.shipping import measure


class ChannelProbe:
    """A copy of the dense model (without config.residual_blocks_removed blocks) whose
    channel groups lose channels one group at a time."""

    def __init__(self, dense, config, kinds, splits=None):
        self.config = config
        self.model, self.masks = structured.prepare(dense, config, kinds, splits)
        self.original = self.model.get_weights()
        self.units = {g.key: g.shape for g in self.masks.plan.groups}

    def prune(self, key: str, sparsity: float) -> None:
        self.masks.update({k: sparsity if k == key else 0.0 for k in self.units}, self.config)

    def restore(self, key: str) -> None:
        self.model.set_weights(self.original)

    def int8(self, splits) -> bytes:
        """The int8 TFLite of the model rebuilt without the removed channels."""
        return measure.int8(rebuild.rebuild(self.model, self.masks.keep), splits, self.config)

    def removed_line(self) -> str | None:
        """Which residual blocks went before the channels were probed, if any."""
        return self.masks.plan.removed_line() if self.masks.plan.removed else None
