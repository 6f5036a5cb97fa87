"""A folder of images, one sub-folder per class, read with tf_keras' image loading.

Either `train/` and `test/` inside (each with the class folders), or the class folders
themselves, split into train and test by seed (test: val_fraction of the images, as
large as the validation share). Every image is resized to the first one's size and
read in its colour mode (grayscale or RGB).
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from pruning.data.raw import Raw
from pruning.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")  # what tf_keras decodes


def read(path: Path, seed: int, val_fraction: float):

    split = (path / "train").is_dir() and (path / "test").is_dir()
    train_dir = path / "train" if split else path
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    first = next((f for c in classes for f in sorted((train_dir / c).iterdir())
                  if f.suffix.lower() in IMAGE_SUFFIXES), None)
    if len(classes) < 2 or first is None:
        raise DataError(f"dataset={str(path)!r}: needs at least two class sub-folders "
                        f"with images ({', '.join(IMAGE_SUFFIXES)}) in "
                        f"{str(train_dir)!r}; found {len(classes)} class folder(s)")
    from PIL import Image  # what tf_keras' loading uses: read only to learn mode and size

    with Image.open(first) as image:
        image.load()
    mode = "grayscale" if image.mode in ("L", "1", "I", "I;16") else "rgb"
    size = (image.height, image.width)
    x_train, y_train = _read_split(train_dir, classes, mode, size)
    if split:
        unknown = sorted({p.name for p in (path / "test").iterdir() if p.is_dir()}
                         - set(classes))
        if unknown:
            raise DataError(f"dataset={str(path)!r}: test/ has class folder(s) "
                            f"{', '.join(unknown)} that train/ lacks")
        x_test, y_test = _read_split(path / "test", classes, mode, size)
    else:
        order = np.random.default_rng(seed).permutation(len(x_train))
        n_test = max(1, int(round(len(order) * val_fraction)))
        test, rest = order[:n_test], order[n_test:]
        x_test, y_test, x_train, y_train = x_train[test], y_train[test], x_train[rest], \
            y_train[rest]
    return Raw(x_train, y_train, x_test, y_test, str(path.absolute()), path.name)


def _read_split(folder: Path, classes: list[str], mode: str, size: tuple[int, int]):
    import tf_keras as keras

    with contextlib.redirect_stdout(io.StringIO()):  # "Found N files ..." is not ours to say
        dataset = keras.utils.image_dataset_from_directory(
            folder, labels="inferred", label_mode="int", class_names=classes,
            color_mode=mode, batch_size=None, image_size=size, shuffle=False)
    xs, ys = [], []
    for x, y in dataset.batch(1024).as_numpy_iterator():
        xs.append(np.clip(np.round(x), 0, 255).astype(np.uint8))
        ys.append(y)
    if not xs:
        raise DataError(f"dataset: no images in {str(folder)!r}")
    return np.concatenate(xs), np.concatenate(ys).astype(np.int64)
