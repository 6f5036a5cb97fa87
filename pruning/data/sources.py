"""Where the data come from: a built-in name, a .npz file, a folder of images in one
sub-folder per class, or tensorflow-datasets (`tfds:NAME`). A registry of source kinds,
asked in order, like pruning.models.sources.

Each kind tells from the spelling alone whether a `dataset` value is its own, and reads
`Raw` arrays; `pruning.data.splits.load` checks, splits, scales and digests them the same for all.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pruning.data import image_folders
from pruning.data.builtin import DATASETS, default_data_dir
from pruning.data.raw import Raw
from pruning.errors import DataError
from pruning.registry import SourceKinds

DATA_SOURCES = SourceKinds("dataset", DATASETS.names)
TFDS_EXTRA = "pip install 'pruning[tfds]'"


@dataclass(frozen=True)
class Kind:
    claims: object  # spec -> bool, from the string alone
    read: object  # (spec, data_dir: str, seed, val_fraction) -> Raw
    form: str


def kind_of(spec: str) -> str:
    return DATA_SOURCES.kind_of(spec)


def read(spec: str, data_dir: str, seed: int, val_fraction: float) -> Raw:
    return DATA_SOURCES.get(kind_of(spec)).read(spec, data_dir, seed, val_fraction)


def _register(name: str, claims, form: str = ""):
    def add(read):
        DATA_SOURCES.register(name)(Kind(claims, read, form))
        return read

    return add


@_register("builtin", lambda spec: spec in DATASETS)
def _builtin(spec, data_dir, seed, val_fraction):
    root = Path(data_dir).expanduser() if data_dir else default_data_dir()
    (x_train, y_train), (x_test, y_test), source = DATASETS.get(spec)(root)
    return Raw(x_train, y_train, x_test, y_test, source, spec)


@_register("tfds", lambda spec: spec.startswith("tfds:"),
           form="tfds:NAME (tensorflow-datasets, already in its cache folder)")
def _tfds(spec, data_dir, seed, val_fraction):
    name = spec.removeprefix("tfds:")
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DataError(f"dataset={spec!r} needs tensorflow-datasets: {TFDS_EXTRA}") from None
    folder = Path(data_dir or os.environ.get("TFDS_DATA_DIR", "")
                  or Path.home() / "tensorflow_datasets").expanduser()
    try:
        train, test = tfds.load(name, split=["train", "test"], data_dir=str(folder),
                                download=False, try_gcs=False, as_supervised=True,
                                batch_size=-1)
    except Exception as e:  # tfds raises assorted types for "not prepared"
        raise DataError(f"dataset={spec!r} is not in the tensorflow-datasets cache folder "
                        f"{str(folder)!r} and this package never downloads it "
                        f"({str(e).splitlines()[0][:160]}); fill that folder on a machine "
                        f"with internet (`tfds build {name} --data_dir DIR`) and copy it, or "
                        "point --data-dir at a folder holding it") from None
    (x_train, y_train), (x_test, y_test) = tfds.as_numpy(train), tfds.as_numpy(test)
    return Raw(x_train, y_train, x_test, y_test, f"tfds:{name}@{folder}", name)


NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


@_register("npz", lambda spec: spec.endswith(".npz"),
           form="a .npz file with x_train, y_train, x_test, y_test (x_val, y_val optional)")
def _npz(spec, data_dir, seed, val_fraction):
    path = Path(spec).expanduser()
    if not path.is_file():
        raise DataError(f"dataset={spec!r}: no such file")
    try:
        # Never allow_pickle: an object array in an untrusted file would run code.
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise DataError(f"dataset={spec!r} lacks {', '.join(missing)}; it holds "
                                f"{', '.join(f.files) or 'nothing'} (needed: "
                                f"{', '.join(NPZ_KEYS)}; x_val, y_val optional)")
            arrays = {k: f[k] for k in (*NPZ_KEYS, "x_val", "y_val") if k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"dataset={spec!r} is not a readable .npz archive of arrays "
                        f"({type(e).__name__})") from None
    if ("x_val" in arrays) != ("y_val" in arrays):
        raise DataError(f"dataset={spec!r} has only one of x_val, y_val; give both or neither")
    return Raw(**arrays, source=str(path.absolute()), name=path.stem)


def _folder_claims(spec: str) -> bool:
    return "/" in spec or os.sep in spec or os.path.isdir(spec)


@_register("folder", _folder_claims,
           form="a folder of images in one sub-folder per class (train/ and test/ inside, "
                "or split by seed)")
def _folder(spec, data_dir, seed, val_fraction):

    path = Path(spec).expanduser()
    if not path.is_dir():
        raise DataError(f"dataset={spec!r}: no such folder")
    return image_folders.read(path, seed, val_fraction)
