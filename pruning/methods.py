"""*How* weights are chosen for one-shot pruning: pure numpy scoring, no TensorFlow.

The unstructured methods map {layer: kernel} and a sparsity to {layer: mask} (True =
kept); `unit` and `channel` are the structured granularities (whole units or channels,
the model rebuilt smaller); `gradual` is tfmot's retraining, run as an experiment.
"""
from __future__ import annotations

import numpy as np

from .granularities import GRANULARITIES
from .registry import Registry

METHODS = Registry("method")


def keep_largest(scores: np.ndarray, keep: int) -> np.ndarray:
    """Mask keeping exactly `keep` entries with the largest scores (ties by position)."""
    flat = scores.ravel()
    mask = np.zeros(flat.size, bool)
    if keep > 0:
        mask[np.argsort(-flat, kind="stable")[:keep]] = True
    return mask.reshape(scores.shape)


def n_kept(size: int, sparsity: float) -> int:
    """How many of `size` weights survive `sparsity`: tfmot's rounding."""
    return int(round(size * (1.0 - sparsity)))


@METHODS.register("weight")
def weight_masks(kernels: dict[str, np.ndarray], sparsity) -> dict[str, np.ndarray]:
    """Layer-wise magnitude pruning: the smallest |w| of each kernel go, `sparsity` of
    each (a number), or each layer its own share ({layer: sparsity}: a distribution's)."""
    shares = sparsity if isinstance(sparsity, dict) else dict.fromkeys(kernels, sparsity)
    return {name: keep_largest(np.abs(k), n_kept(k.size, shares[name]))
            for name, k in kernels.items()}


weight_masks.per_layer = True  # takes a sparsity distribution's shares; global has its own


@METHODS.register("global")
def global_masks(kernels: dict[str, np.ndarray], sparsity: float) -> dict[str, np.ndarray]:
    """Flat magnitude pruning: one threshold across all layers, so big layers lose more."""
    names = list(kernels)
    scores = np.concatenate([np.abs(kernels[n]).ravel() for n in names])
    kept = keep_largest(scores, n_kept(scores.size, sparsity))
    out, start = {}, 0
    for n in names:
        size = kernels[n].size
        out[n] = kept[start: start + size].reshape(kernels[n].shape)
        start += size
    return out


global_masks.per_layer = False  # its one threshold is its own distribution


# Whole units (Dense) or channels (Conv2D and Dense) at once: the structured
# granularities' own code, which also rebuilds the smaller model (pruning.structured).
METHODS.register("unit")(GRANULARITIES.get("unit"))
METHODS.register("channel")(GRANULARITIES.get("channel"))

# tfmot's gradual pruning with retraining is a whole experiment, not a mask function:
# the sweep runs it through pruning.experiment. Registered so that its name is valid.
METHODS.register("gradual")(None)


def global_threshold(kernels: dict[str, np.ndarray], masks: dict[str, np.ndarray]) -> float:
    """The smallest kept |w| over all layers (the one threshold `global` used)."""
    return float(min(np.abs(kernels[n][masks[n]]).min() for n in kernels if masks[n].any()))
