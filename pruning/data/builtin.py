"""Built-in datasets: the standard files in `data_dir` when present, else the Keras
downloaders (which need the internet), and a small synthetic set for tests."""
from __future__ import annotations

import gzip
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from pruning.errors import DataError
from pruning.registry import Registry

DATASETS = Registry("dataset")


def default_data_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def _missing(name: str, root: Path, files: list[str], download_error: Exception) -> DataError:
    return DataError(
        f"dataset {name!r}: none of the standard files were found in data_dir={str(root)!r} "
        f"(looked for: {', '.join(files)}) and the Keras download failed ({download_error}). "
        "Point --data-dir (MLproject: data_dir) at a folder holding them, e.g. one made by "
        "`python ../shared/datasets/prepare.py --out DIR`.")


def _corrupt(path: Path, error: Exception) -> DataError:
    return DataError(f"data file {str(path)!r} is unreadable or corrupt ({error}); "
                     "replace it or point --data-dir elsewhere")


def _keras_download(name: str, root: Path, files: list[str], fetch):
    try:
        (x_train, y_train), (x_test, y_test) = fetch()
    except Exception as e:  # Keras raises a bare Exception on a failed fetch
        raise _missing(name, root, files, e) from None
    return (x_train, y_train.reshape(-1)), (x_test, y_test.reshape(-1)), "keras download"


@DATASETS.register("mnist")
def _mnist(root: Path):
    path = root / "mnist.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                return ((f["x_train"], f["y_train"]), (f["x_test"], f["y_test"]), str(path))
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
            # numpy's own message for a non-npz file advises allow_pickle=True: never
            # suggest unpickling an untrusted file.
            raise _corrupt(path, e if isinstance(e, KeyError) else
                           "not a .npz archive with x_train, y_train, x_test, y_test") from None
    import tf_keras as keras

    return _keras_download("mnist", root, [str(path)],
                           lambda: keras.datasets.mnist.load_data(path=str(path.absolute())))


_IDX = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped), the format of MNIST and Fashion-MNIST."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
        if raw[:2] != b"\0\0" or raw[2] != 0x08:
            raise ValueError("not an unsigned-byte IDX file")
        dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(raw[3])]
        return np.frombuffer(raw, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)
    except (OSError, ValueError, EOFError) as e:
        raise _corrupt(path, e) from None


@DATASETS.register("fashion_mnist")
def _fashion_mnist(root: Path):
    folder = root / "fashion-mnist"
    paths = [folder / f for f in _IDX]
    if all(p.exists() for p in paths):
        x_train, y_train, x_test, y_test = (read_idx(p) for p in paths)
        return (x_train, y_train), (x_test, y_test), str(folder)
    import tf_keras as keras

    return _keras_download("fashion_mnist", root, [str(p) for p in paths],
                           lambda: keras.datasets.fashion_mnist.load_data())


def _cifar_batch(path: Path):
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        x = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return x, np.asarray(batch[b"labels"], np.int64)
    except (OSError, KeyError, ValueError, pickle.UnpicklingError, EOFError) as e:
        raise _corrupt(path, e) from None


@DATASETS.register("cifar10")
def _cifar10(root: Path):
    folder = root / "cifar-10-batches-py"
    paths = [folder / f"data_batch_{i}" for i in range(1, 6)] + [folder / "test_batch"]
    if all(p.exists() for p in paths):
        parts = [_cifar_batch(p) for p in paths]
        x_train = np.concatenate([x for x, _ in parts[:5]])
        y_train = np.concatenate([y for _, y in parts[:5]])
        return (x_train, y_train), parts[5], str(folder)
    import tf_keras as keras

    return _keras_download("cifar10", root, [str(p) for p in paths],
                           lambda: keras.datasets.cifar10.load_data())


@DATASETS.register("synthetic")
def _synthetic(root: Path):
    """Small, learnable, offline: 20x10 images of class-specific patterns plus noise.

    For tests and smoke runs; needs no files.
    """
    rng = np.random.default_rng(1234)
    prototypes = rng.integers(0, 256, size=(10, 20, 10))

    def draw(n):
        y = rng.integers(0, 10, size=n)
        noise = rng.normal(0, 60, size=(n, 20, 10))
        return np.clip(prototypes[y] + noise, 0, 255).astype(np.uint8), y

    return draw(640), draw(160), "synthetic"
