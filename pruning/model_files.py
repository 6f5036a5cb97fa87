"""A tf_keras model as the file that is shipped, cached and measured.

HDF5, not the .keras zip: one plain file whose size is the weights' size. The tracking
layer saves dense models to its cache with it, shipping measures file sizes with it.
"""
from __future__ import annotations

import warnings
from pathlib import Path


def save_h5(model, path: Path) -> int:
    """Save without optimizer state (what one ships); return the file's size.

    HDF5, not the .keras zip: one plain file whose size is the weights' size.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*HDF5 file.*legacy")
        model.save(path, include_optimizer=False, save_format="h5")
    return path.stat().st_size
