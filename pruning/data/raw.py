"""What every data source reads: the arrays as they are in the files, before checks,
splits and scaling (pruning.data.splits)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Raw:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # where they were read from
    name: str  # short, for MLflow's dataset names
    x_val: np.ndarray | None = None  # given by the source; else held out by seed
    y_val: np.ndarray | None = None
