import gzip
import os
import pickle

import numpy as np
import pytest

from pruning.data import builtin
from pruning.data import splits as data
from pruning.errors import DataError


def _idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _images(n, *shape):
    return np.random.default_rng(n).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def test_mnist_npz_is_read_and_split(tmp_path):
    x, y = _images(50, 28, 28), np.arange(50) % 10
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=x[:20], y_test=y[:20])
    splits = data.load("mnist", str(tmp_path), val_fraction=0.2, seed=0)
    assert splits.x_train.shape == (40, 28, 28, 1) and splits.x_val.shape == (10, 28, 28, 1)
    assert splits.x_test.shape == (20, 28, 28, 1) and splits.num_classes == 10
    assert splits.x_train.dtype == np.float32
    assert 0 <= splits.x_train.min() <= splits.x_train.max() <= 1
    # every training image is in exactly one of train/val
    seen = np.concatenate([splits.x_train, splits.x_val]).reshape(50, -1)
    assert len({row.tobytes() for row in seen}) == 50
    assert splits.source.endswith("mnist.npz")


def test_split_and_digest_are_deterministic_by_seed(tmp_path):
    x, y = _images(50, 28, 28), np.arange(50) % 10
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=x[:5], y_test=y[:5])
    a, b = (data.load("mnist", str(tmp_path), 0.2, seed=1) for _ in range(2))
    c = data.load("mnist", str(tmp_path), 0.2, seed=2)
    np.testing.assert_array_equal(a.y_val, b.y_val)
    assert a.digest == b.digest != c.digest


def test_fashion_mnist_idx_files(tmp_path):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    x, y = _images(30, 28, 28), np.arange(30) % 10
    _idx(folder / "train-images-idx3-ubyte.gz", x)
    _idx(folder / "train-labels-idx1-ubyte.gz", y)
    _idx(folder / "t10k-images-idx3-ubyte.gz", x[:10])
    _idx(folder / "t10k-labels-idx1-ubyte.gz", y[:10])
    splits = data.load("fashion_mnist", str(tmp_path), 0.1, 0)
    assert splits.x_train.shape == (27, 28, 28, 1) and splits.y_test.tolist() == y[:10].tolist()


def test_cifar10_python_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = _images(4, 3 * 32 * 32)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": x, b"labels": [1, 2, 3, 9]}, f)
    splits = data.load("cifar10", str(tmp_path), 0.25, 0)
    assert splits.x_train.shape == (15, 32, 32, 3) and splits.x_test.shape == (4, 32, 32, 3)


def test_missing_files_name_what_was_looked_for_and_the_flag(tmp_path):
    with pytest.raises(DataError) as info:
        data.load("mnist", str(tmp_path / "empty"), 0.1, 0)
    message = str(info.value)
    assert "mnist.npz" in message and "--data-dir" in message and "data_dir" in message


def test_corrupt_file_is_reported(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="unreadable or corrupt"):
        data.load("mnist", str(tmp_path), 0.1, 0)
    (tmp_path / "mnist.npz").write_bytes(os.urandom(4096))
    with pytest.raises(DataError, match="unreadable or corrupt") as info:
        data.load("mnist", str(tmp_path), 0.1, 0)
    assert "pickle" not in str(info.value)  # never advise unpickling an untrusted file
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for name in builtin._IDX:
        (folder / name).write_bytes(b"garbage")
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        data.load("fashion_mnist", str(tmp_path), 0.1, 0)


def test_synthetic_needs_no_files(tmp_path):
    splits = data.load("synthetic", str(tmp_path), 0.1, 0)
    assert splits.input_shape == (20, 10, 1) and splits.num_classes == 10
