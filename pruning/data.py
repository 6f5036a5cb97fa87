"""Built-in datasets (standard files in `data_dir` when present, else the Keras
downloaders), and `load`, which reads any data source (see data_sources).

Every source gives raw arrays and int labels; `load` checks them, scales uint8 images
to [0, 1], holds out a validation split by seed (unless the source gives one) and
computes a digest of the arrays, so two runs on the same bytes share a dense model.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError
from .registry import Registry

DATASETS = Registry("dataset")


@dataclass(frozen=True)
class Splits:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    digest: str  # of the raw arrays and the split, not of the files
    source: str  # where the arrays came from
    scaled: bool = True  # uint8 images divided by 255 (float data are used as they are)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def default_data_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def load(name: str, data_dir: str, val_fraction: float, seed: int) -> Splits:
    """Any data source (see data_sources), checked, split and scaled the same way."""
    from . import data_sources

    raw = data_sources.read(name, data_dir, seed, val_fraction)
    arrays = [raw.x_train, raw.y_train, raw.x_test, raw.y_test]
    given_val = raw.x_val is not None
    if given_val:
        arrays += [raw.x_val, raw.y_val]
    _check_arrays(name, raw.source, *arrays)
    scaled = raw.x_train.dtype == np.uint8
    if scaled and raw.x_train.ndim == 3:  # grayscale images get their channel axis
        arrays[0::2] = [x[..., None] for x in arrays[0::2]]
    x_train, y_train, x_test, y_test = arrays[:4]
    order = np.random.default_rng(seed).permutation(len(x_train))
    if given_val:
        x_val, y_val = arrays[4:]
        train = order
    else:
        n_val = int(round(len(order) * val_fraction))
        val, train = order[:n_val], order[n_val:]
        x_val, y_val = x_train[val], y_train[val]
    digest = hashlib.sha256()
    for a in (*arrays, order):
        digest.update(np.ascontiguousarray(a).tobytes())

    def scale(x):
        # In place: a second 190 MB array for MNIST's floats costs ~0.5 s of page faults,
        # most of what refusing a bad window takes. Same values as x / 255.
        out = x.astype(np.float32)
        return np.divide(out, np.float32(255), out=out) if scaled else out

    labels = [y_train, y_test, y_val]
    return Splits(name=raw.name, x_train=scale(x_train[train]),
                  y_train=y_train[train].astype(np.int64), x_val=scale(x_val),
                  y_val=y_val.astype(np.int64), x_test=scale(x_test),
                  y_test=y_test.astype(np.int64),
                  num_classes=int(max(y.max() for y in labels if len(y))) + 1,
                  digest=digest.hexdigest()[:16], source=raw.source, scaled=scaled)


def _check_arrays(name: str, source: str, *arrays) -> None:
    """Inputs as uint8 images (N, H, W[, C]) or float arrays (N, ...), one integer label
    each, classes from 0: what every source must give, checked before anything trains."""
    where = f"dataset {name!r} ({source})"
    splits = ("train", "test", "val")
    for split, x, y in zip(splits, arrays[0::2], arrays[1::2]):
        images = x.dtype == np.uint8 and x.ndim in (3, 4)
        if not (images or (np.issubdtype(x.dtype, np.floating) and x.ndim >= 2)) or not len(x):
            raise DataError(f"{where}: x_{split} must be non-empty uint8 images shaped (N, H, W) "
                            f"or (N, H, W, C), or float arrays (N, ...); got {x.dtype} "
                            f"{x.shape}")
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            raise DataError(f"{where}: x_{split} holds NaN or infinite values")
        if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
            hint = (" (one-hot? give class numbers: y.argmax(axis=1))"
                    if y.ndim == 2 and len(y) == len(x) else "")
            raise DataError(f"{where}: y_{split} must hold one integer label per sample "
                            f"({len(x)}), got {y.dtype} {y.shape}{hint}")
        if y.min() < 0:
            raise DataError(f"{where}: y_{split} has label {int(y.min())}; labels must be "
                            "class numbers 0, 1, 2, ...")
        if x.shape[1:] != arrays[0].shape[1:] or x.dtype != arrays[0].dtype:
            raise DataError(f"{where}: train inputs are {arrays[0].dtype} "
                            f"{arrays[0].shape[1:]} but {split} inputs {x.dtype} "
                            f"{x.shape[1:]}")
    for split, y in zip(splits[1:], arrays[3::2]):
        if y.max() > arrays[1].max():
            raise DataError(f"{where}: y_{split} has label {int(y.max())}, a class the "
                            f"training labels (0-{int(arrays[1].max())}) never show")


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
