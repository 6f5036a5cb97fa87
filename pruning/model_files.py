"""A tf_keras model as the file that is shipped, cached and measured.

HDF5, not the .keras zip: one plain file whose size is the weights' size. The tracking
layer saves dense models to its cache with it, shipping measures file sizes with it.
"""
from __future__ import annotations

import threading
import warnings
from pathlib import Path

# tf_keras marks a model while it writes it as HDF5 (`use_legacy_config`, set then
# deleted): two saves of one model at once, e.g. the dense model measured on a thread
# while it is cached, break each other. One save at a time.
_SAVING = threading.Lock()


def save_h5(model, path: Path) -> int:
    """Save without optimizer state (what one ships); return the file's size.

    HDF5, not the .keras zip: one plain file whose size is the weights' size.
    """
    with _SAVING, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*HDF5 file.*legacy")
        model.save(path, include_optimizer=False, save_format="h5")
    return path.stat().st_size
