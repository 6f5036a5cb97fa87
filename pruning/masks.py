"""Mask math and mask files: pure numpy, no TensorFlow.

A mask is a boolean array shaped like the weight it gates (True = kept).
Snapshots are stored bit-packed in a compressed `.npz`: one bit a weight,
so a snapshot of LeNet-300-100 is ~33 KB before compression.
"""
from __future__ import annotations

import io

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


def to_npz_bytes(masks: dict[str, np.ndarray]) -> bytes:
    """Bit-pack each mask (keeping its shape) into one compressed npz."""
    arrays = {}
    for name, mask in masks.items():
        key = name.replace("/", "__")
        arrays[f"{key}.bits"] = np.packbits(np.asarray(mask, bool).ravel())
        arrays[f"{key}.shape"] = np.asarray(mask.shape, np.int64)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def from_npz(source) -> dict[str, np.ndarray]:
    """Inverse of `to_npz_bytes`; `source` is a path or a file object."""
    masks = {}
    with np.load(source) as f:
        for key in f.files:
            if key.endswith(".bits"):
                name = key[: -len(".bits")]
                shape = tuple(f[f"{name}.shape"])
                bits = np.unpackbits(f[key], count=int(np.prod(shape)))
                masks[name.replace("__", "/")] = bits.astype(bool).reshape(shape)
    return masks
