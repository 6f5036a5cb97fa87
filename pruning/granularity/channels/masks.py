"""*How* whole channels are chosen and what removing them means for each weight: pure
numpy, no TensorFlow (structured pruning, issue #13).

A channel keep-vector is a boolean array over a tensor's last axis (True = kept).
Every weight of a layer says which of its axes follow the layer's input channels and
which its output channels (`AXES`); from that one table come the masks that zero a
channel while training and the slices that cut it out of the rebuilt model.
"""
from __future__ import annotations

import numpy as np

from pruning.sparsity.scoring import keep_largest, n_kept

# layer class -> weight name -> {axis: "in" or "out"}: which keep-vector cuts which axis.
AXES = {
    "Conv2D": {"kernel": {2: "in", 3: "out"}, "bias": {0: "out"}},
    "Dense": {"kernel": {0: "in", 1: "out"}, "bias": {0: "out"}},
    "DepthwiseConv2D": {"depthwise_kernel": {2: "in"}, "bias": {0: "out"}},
    "BatchNormalization": {name: {0: "out"} for name in
                           ("gamma", "beta", "moving_mean", "moving_variance")},
    "PReLU": {"alpha": {-1: "out"}},
}


def group_scores(scores: list[np.ndarray]) -> np.ndarray:
    """One score per channel of a group from its producers' scores. Each producer's are
    divided by their mean first: layers tied by a residual join differ in scale, and a
    channel is worth keeping if it matters to any of them."""
    total = np.zeros(len(scores[0]))
    for s in scores:
        mean = float(np.mean(s))
        total += s / mean if mean > 0 else s
    return total


def n_channels_kept(channels: int, sparsity: float, multiple: int = 1) -> int:
    """How many of `channels` survive `sparsity`: tfmot's rounding, then the nearest of
    the multiples of `multiple` and all the channels (int8 kernels run channels in
    blocks: 38 can run slower than 32; ties keep more). Never below one channel: a
    network is not cut in two."""
    kept = n_kept(channels, sparsity)
    candidates = [*range(multiple, channels, multiple), channels] if multiple > 1 else [kept]
    return max(1, min(candidates, key=lambda c: (abs(c - kept), -c)))


def keep_channels(scores: np.ndarray, sparsity: float, multiple: int = 1) -> np.ndarray:
    """Keep-vector removing the `sparsity` share of channels with the lowest scores (ties
    by position), the number kept rounded by `n_channels_kept`."""
    return keep_largest(np.asarray(scores, float),
                        n_channels_kept(len(scores), sparsity, multiple))


def weight_keep(shape: tuple, axes: dict[int, str], in_keep, out_keep) -> dict[int, np.ndarray]:
    """{axis: keep-vector} of one weight, leaving out axes whose channels all stay."""
    keeps = {}
    for axis, side in axes.items():
        keep = in_keep if side == "in" else out_keep
        if keep is not None and not keep.all():
            if len(keep) != shape[axis]:
                raise ValueError(f"a keep-vector of {len(keep)} channels for an axis of "
                                 f"{shape[axis]}")
            keeps[axis % len(shape)] = np.asarray(keep, bool)
    return keeps


def mask(shape: tuple, keeps: dict[int, np.ndarray]) -> np.ndarray:
    """The weight-shaped mask (True = kept) of removing channels along those axes."""
    out = np.ones(shape, bool)
    for axis, keep in keeps.items():
        view = [1] * len(shape)
        view[axis] = len(keep)
        out &= keep.reshape(view)
    return out


def cut(weight: np.ndarray, keeps: dict[int, np.ndarray]) -> np.ndarray:
    """The weight with the removed channels taken out: what the smaller model holds."""
    for axis, keep in keeps.items():
        weight = np.compress(keep, weight, axis=axis)
    return weight


def channel_sparsity(keeps) -> float:
    """Share of channels removed over all the given keep-vectors together."""
    keeps = list(keeps)
    total = sum(len(k) for k in keeps)
    return 1.0 - sum(int(np.count_nonzero(k)) for k in keeps) / total if total else 0.0
