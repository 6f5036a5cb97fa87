"""Fashion-MNIST's IDX files as uint8 arrays: what both example users start from."""
import gzip
from pathlib import Path

import numpy as np

IDX = {"x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
       "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz"}


def read_idx(path: Path) -> np.ndarray:
    raw = gzip.open(path).read()
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(raw[3])]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def arrays(data_dir: str) -> dict[str, np.ndarray]:
    """x_train, y_train, x_test, y_test from DATA_DIR/fashion-mnist."""
    return {k: read_idx(Path(data_dir) / "fashion-mnist" / f) for k, f in IDX.items()}
