"""What training reports to: tracking, progress printing and Optuna's trial reporting
are all observers. No TensorFlow here, so the tracking layer can import it cheaply."""
from __future__ import annotations

import numpy as np


class Observer:
    """Receives what training produces; every method is optional."""

    def epoch_end(self, step: int, metrics: dict[str, float]) -> None:
        """`step` is the epoch counted across both phases."""

    def mask_snapshot(self, step: int, masks: dict[str, np.ndarray], final: bool) -> None:
        """Masks of every pruned layer (True = kept) after retraining epoch `step`."""

    def status(self, text: str) -> None:
        """A step of work outside the training epochs (caching, export, logging)."""


def tell(observers, text: str) -> None:
    """`text` to the observers that take a status (any object may be an observer)."""
    for observer in observers:
        getattr(observer, "status", lambda text: None)(text)
