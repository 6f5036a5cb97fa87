"""Mask snapshots while retraining: what the observers (tracking, pictures) see of the
masks, for every granularity alike."""
from __future__ import annotations

from pruning.sparsity import masks as mask_math


class MaskSnapshots:
    """Every `every` retraining epochs (0: only the last) and at the last of `epochs`: the
    masks to the observers, and the share of mask bits changed since the previous
    snapshot. The same for every granularity."""

    def __init__(self, every: int, epochs: int, observers, step_offset: int):
        self.every, self.epochs = every, epochs
        self.observers, self.step_offset = observers, step_offset
        self.previous = None

    def __call__(self, epoch: int, masks_now) -> dict[str, float]:
        every, final = self.every, epoch == self.epochs - 1
        if not (final or (every and (epoch + 1) % every == 0)):
            return {}
        current, metrics = masks_now(), {}
        if self.previous is not None:
            metrics["mask_change"] = mask_math.changed_fraction(self.previous, current)
        self.previous = current
        for observer in self.observers:
            # any object may observe (Observer says each method is optional)
            getattr(observer, "mask_snapshot", lambda *_: None)(self.step_offset + epoch,
                                                                current, final)
        return metrics
