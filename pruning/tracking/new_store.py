"""A new local sqlite store, copied from an empty one made once per MLflow schema.

Why: MLflow makes a new store's tables by running every schema migration since its
first, CPU seconds that every run in a fresh store paid, and every test's store
(docs/benchmarks.md, "What a run costs beyond training"). The empty tables depend only
on MLflow's schema, so they are made once, by MLflow's own table creation, into a cache
file, and copied. Nothing else is in it: MLflow adds its Default experiment, with this
store's artifact root, when it first opens the copy, as it does after creating the
tables itself. A file already at the store's path is never touched, and anything that
goes wrong leaves the store to MLflow.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

import mlflow
from mlflow.store.db import utils as db_utils

CACHE_DIR = "PRUNING_CACHE_DIR"  # where the empty store is kept; else ~/.cache/pruning
_MIGRATIONS = Path(db_utils.__file__).parent.parent / "db_migrations" / "versions"
_MAKING = threading.Lock()  # alembic's migration context is global to a process


def sqlite_path(uri: str) -> Path | None:
    """The file of a local sqlite store's URI (`sqlite:///rel.db`, `sqlite:////abs.db`);
    None for anything else (a server, a database server, in-memory, URI options)."""
    if not uri.startswith("sqlite:///") or "?" in uri:
        return None
    path = uri[len("sqlite:///"):]
    return Path(path) if path and path != ":memory:" else None


def create(path: Path) -> bool:
    """Copy the empty store to `path` if nothing is there; True if it did. Another
    process making the same store at once is safe: the copy appears whole (a hard link of
    a finished file) or not at all, and never replaces a store."""
    if path.exists():
        return False
    try:
        source = template()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            shutil.copyfile(source, partial)
            os.link(partial, path)
        finally:
            os.unlink(partial)
        return True
    except Exception:  # FileExistsError (made meanwhile), no hard links, MLflow's internals
        return False   # moved on: MLflow creates the store itself, as it always could


def template() -> Path:
    """The empty store for this MLflow schema, made on first use."""
    folder = Path(os.environ.get(CACHE_DIR) or Path(os.environ.get("XDG_CACHE_HOME")
                                                    or Path.home() / ".cache") / "pruning")
    path = folder / f"mlflow-{mlflow.__version__}-{schema_key()}.db"
    with _MAKING:
        if not path.exists():
            _make(path)
    return path


def _make(path: Path) -> None:
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        engine = db_utils.create_sqlalchemy_engine(f"sqlite:///{partial}")  # as MLflow does
        try:
            db_utils._initialize_tables(engine)
        finally:
            engine.dispose()
        os.replace(partial, path)  # whole or absent; two makers write the same tables
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def schema_key() -> str:
    """MLflow's migration scripts by name: a development build changes them without
    changing its version."""
    names = sorted(p.name for p in _MIGRATIONS.glob("*.py"))
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]
