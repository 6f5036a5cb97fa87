"""Pictures of masks: data in (boolean arrays), figure out. The MLflow UI previews PNGs,
not the bit-packed npz snapshots, so these are what a person looks at."""
from __future__ import annotations

import math

import numpy as np

from pruning.sparsity import masks as mask_math
from pruning.figures.plots import plt

MAX_SIDE = 160  # blocks per side of a mask picture; larger kernels are averaged


def pixel_map(share: np.ndarray, layer: str, title: str):
    """Share of the first layer's weights kept per input pixel (an image)."""
    fig, ax = plt.subplots(figsize=(5, 4.4))
    image = ax.imshow(share, cmap="magma", vmin=0, vmax=max(float(share.max()), 1e-9))
    fig.colorbar(image, ax=ax, label=f"share of {layer}'s weights kept")
    ax.set_xlabel("pixel column")
    ax.set_ylabel("pixel row")
    ax.set_title(f"{title}\nwhere the network still looks ({layer})", fontsize=10)
    fig.tight_layout()
    return fig


def final_masks(final: dict[str, np.ndarray], title: str):
    """Each pruned layer's final mask as a kept (light) / removed (dark) map, inputs down,
    outputs across; kernels larger than MAX_SIDE are shown as the kept share per block."""
    names = list(final)
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.0 * rows + 0.6), squeeze=False)
    for ax, name in zip(axes.flat, names):
        matrix = mask_math.as_matrix(final[name]).astype(float)
        shown = mask_math.block_share(matrix, MAX_SIDE)
        ax.imshow(shown, cmap="gray", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        kept = matrix.mean()
        ax.set_title(f"{name} {matrix.shape[0]}x{matrix.shape[1]}\n{kept:.1%} kept",
                     fontsize=8)
        ax.set_xlabel("output unit", fontsize=7)
        ax.set_ylabel("input", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"{title}: final masks (white kept, black removed)", fontsize=10)
    fig.tight_layout()
    return fig


def mask_changes(snapshots: list[tuple[int, dict[str, np.ndarray]]], title: str):
    """How the masks changed over the schedule: each layer's sparsity at every snapshot,
    and how many weights each snapshot removed and brought back (all layers)."""
    epochs = [epoch for epoch, _ in snapshots]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    for name in snapshots[0][1]:
        left.plot(epochs, [1 - m[name].mean() for _, m in snapshots], marker=".", label=name)
    left.set_ylim(0, 1)
    left.set_xlabel("epoch (of the whole run)")
    left.set_ylabel("sparsity of the layer")
    left.set_title("sparsity per layer at each mask snapshot", fontsize=10)
    left.grid(alpha=0.3)
    if len(snapshots[0][1]) <= 12:
        left.legend(fontsize=7)
    removed, revived = [], []
    for (_, before), (_, after) in zip(snapshots, snapshots[1:]):
        counts = [mask_math.flips(before[n], after[n]) for n in after]
        removed.append(sum(c[0] for c in counts))
        revived.append(sum(c[1] for c in counts))
    if removed:
        right.bar(epochs[1:], removed, color="tab:red", label="removed since the last snapshot")
        right.bar(epochs[1:], [-r for r in revived], color="tab:green",
                  label="brought back (magnitude regrew)")
        right.legend(fontsize=8)
    right.axhline(0, color="black", linewidth=0.5)
    right.set_xlabel("epoch (of the whole run)")
    right.set_ylabel("weights")
    right.set_title("mask changes between snapshots", fontsize=10)
    right.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
