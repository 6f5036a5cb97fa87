"""`load`: any data source (pruning.data.sources) as checked, split, scaled arrays.

Every source gives raw arrays and int labels; `load` checks them, scales uint8 images
to [0, 1], holds out a validation split by seed (unless the source gives one) and
computes a digest of the arrays, so two runs on the same bytes share a dense model.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import numpy as np

from pruning.data import sources
from pruning.errors import DataError


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
    dataset_digest: str  # of the raw arrays alone: the same for every seed's split
    source: str  # where the arrays came from
    scaled: bool = True  # uint8 images divided by 255 (float data are used as they are)
    channel_added: bool = False  # grayscale (N, H, W) images given a channel axis
    images: bool = False  # the source gave uint8 images (not float features)
    # A teacher's logits on x_train, row by row: distillation from outputs computed once
    # (pruning.training.distillation), where a teacher in every step would cost more
    # than the student it teaches.
    teacher_outputs: np.ndarray | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def form(self) -> str:
        """How the inputs reach the model, in words: what a run says of its data."""
        if not self.images:
            return "float arrays, as given"
        return ("uint8 images " + ("scaled to [0, 1]" if self.scaled else
                                   "as raw 0-255 pixels (the model rescales them)")
                + (", a channel axis added" if self.channel_added else ", shaped as given"))

    def as_given(self, x: np.ndarray) -> np.ndarray:
        """Inputs of these splits back in the form the source gave them (uint8 images
        without the channel axis the loader added): what a user hands the shipped model."""
        x = np.rint(np.asarray(x) * np.float32(255)) if self.scaled else np.asarray(x)
        x = x.astype(np.uint8) if self.images else x
        return x[..., 0] if self.channel_added else x

    def input_transform(self) -> dict:
        """What turns inputs as given into what the model takes: the shipped model's
        wrapper applies it, so that it takes the data as the user has it."""
        return {"scale": 1 / 255 if self.scaled else 1.0, "channel_axis": self.channel_added,
                "dtype": "uint8" if self.images else "float32"}

    def for_model(self, input_shape: tuple, rescales: bool) -> "Splits":
        """The same samples as a model takes them: images left raw (0-255) for a model
        that rescales its inputs itself, and without the channel axis the loader added
        for a model whose input has none. Built-in models are built for the defaults."""
        changes = {}
        xs = {k: getattr(self, k) for k in ("x_train", "x_val", "x_test")}
        if self.images and self.scaled and rescales:
            # x / 255 in float32, times 255 and rounded, is the byte again, exactly
            xs = {k: np.rint(x * np.float32(255)) for k, x in xs.items()}
            changes["scaled"] = False
        if self.channel_added and len(input_shape) == self.x_train.ndim - 2:
            xs = {k: x[..., 0] for k, x in xs.items()}
            changes["channel_added"] = False
        return dataclasses.replace(self, **xs, **changes) if changes else self


def load(name: str, data_dir: str, val_fraction: float, seed: int) -> Splits:
    """Any data source (pruning.data.sources), checked, split and scaled the same way."""
    raw = sources.read(name, data_dir, seed, val_fraction)
    arrays = [raw.x_train, raw.y_train, raw.x_test, raw.y_test]
    given_val = raw.x_val is not None
    if given_val:
        arrays += [raw.x_val, raw.y_val]
    _check_arrays(name, raw.source, *arrays)
    scaled = raw.x_train.dtype == np.uint8
    channel_added = scaled and raw.x_train.ndim == 3
    if channel_added:  # grayscale images get their channel axis (the built-in models' input)
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
    for a in arrays:
        digest.update(np.ascontiguousarray(a).tobytes())
    dataset_digest = digest.hexdigest()[:16]
    digest.update(order.tobytes())

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
                  digest=digest.hexdigest()[:16], dataset_digest=dataset_digest,
                  source=raw.source, scaled=scaled,
                  channel_added=channel_added, images=scaled)


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
