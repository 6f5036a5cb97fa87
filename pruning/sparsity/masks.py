"""Mask math and mask files: pure numpy, no TensorFlow.

A mask is a boolean array shaped like the weight it gates (True = kept).
Snapshots are stored bit-packed in a compressed `.npz`: one bit a weight,
so a snapshot of LeNet-300-100 is ~33 KB before compression.
"""
from __future__ import annotations


import numpy as np


def sparsity(arrays) -> float:
    """Fraction of zeros over all the given arrays together."""
    arrays = list(arrays)
    total = sum(a.size for a in arrays)
    return 1.0 - sum(int(np.count_nonzero(a)) for a in arrays) / total if total else 0.0


def changed_fraction(previous: dict[str, np.ndarray], current: dict[str, np.ndarray]) -> float:
    """Share of mask bits that differ between two snapshots of the same layers."""
    if previous.keys() != current.keys():
        raise ValueError("snapshots cover different layers: "
                         f"{sorted(previous)} vs {sorted(current)}")
    total = sum(m.size for m in current.values())
    flipped = sum(int(np.count_nonzero(previous[k] != current[k])) for k in current)
    return flipped / total if total else 0.0


def pixel_keep_share(mask: np.ndarray, image_shape: tuple) -> np.ndarray:
    """Share of a first Dense layer's weights kept per input pixel: where the network still
    looks. `mask` is (H*W*C, units) behind a Flatten of (H, W, C) images; -> (H, W)."""
    height, width, channels = image_shape
    per_input = np.asarray(mask, bool).reshape(height * width * channels, -1).mean(axis=1)
    return per_input.reshape(height, width, channels).mean(axis=2)


def as_matrix(mask: np.ndarray) -> np.ndarray:
    """A kernel's mask as (inputs, outputs): conv kernels (kh, kw, in, out) fold their
    window into the inputs."""
    mask = np.asarray(mask)
    return mask.reshape(-1, mask.shape[-1])


def block_share(matrix: np.ndarray, max_side: int) -> np.ndarray:
    """Share of kept entries in blocks, so that no side exceeds `max_side`: a picture of
    a large mask that still shows where the zeros are."""
    rows, cols = matrix.shape
    fr, fc = -(-rows // max_side), -(-cols // max_side)  # ceil division
    padded = np.full((rows + (-rows) % fr, cols + (-cols) % fc), np.nan)
    padded[:rows, :cols] = matrix
    blocks = padded.reshape(padded.shape[0] // fr, fr, padded.shape[1] // fc, fc)
    return np.nanmean(blocks, axis=(1, 3))


def flips(previous: np.ndarray, current: np.ndarray) -> tuple[int, int]:
    """(removed, revived) between two snapshots of one mask: magnitude pruning recomputes
    masks, so a weight can come back."""
    previous, current = np.asarray(previous, bool), np.asarray(current, bool)
    return int(np.count_nonzero(previous & ~current)), int(np.count_nonzero(~previous & current))
