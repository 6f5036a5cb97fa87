"""*Which* weights or channels go: magnitude scores and the masks they give. Pure numpy,
no TensorFlow.

Unstructured masks map {layer: kernel} and a sparsity to {layer: mask} (True = kept);
channel scores map a producer's kernel (and the scale of the BatchNorm right after it)
to one score per output channel.
"""
from __future__ import annotations

import numpy as np

from pruning.registry import Registry


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


def weight_masks(kernels: dict[str, np.ndarray], sparsity) -> dict[str, np.ndarray]:
    """Layer-wise magnitude pruning: the smallest |w| of each kernel go, `sparsity` of
    each (a number), or each layer its own share ({layer: sparsity}: a distribution's)."""
    shares = sparsity if isinstance(sparsity, dict) else dict.fromkeys(kernels, sparsity)
    return {name: keep_largest(np.abs(k), n_kept(k.size, shares[name]))
            for name, k in kernels.items()}


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


def global_threshold(kernels: dict[str, np.ndarray], masks: dict[str, np.ndarray]) -> float:
    """The smallest kept |w| over all layers (the one threshold `global` used)."""
    return float(min(np.abs(kernels[n][masks[n]]).min() for n in kernels if masks[n].any()))


def filter_norms(kernel: np.ndarray, order: int) -> np.ndarray:
    """L1 (order 1) or L2 norm of each output channel's filter (the kernel's last axis)."""
    return np.linalg.norm(np.asarray(kernel).reshape(-1, kernel.shape[-1]), ord=order, axis=0)


# name -> (kernel, scale of the BatchNorm right after it or None) -> a score per channel
SCORES = Registry("channel_score")
SCORES.register("bn")(lambda kernel, scale: np.abs(scale) if scale is not None
                      else filter_norms(kernel, 2))
SCORES.register("l2")(lambda kernel, scale: filter_norms(kernel, 2))
SCORES.register("l1")(lambda kernel, scale: filter_norms(kernel, 1))
