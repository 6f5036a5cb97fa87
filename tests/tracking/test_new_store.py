import logging
import sqlite3
import threading

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from pruning.tracking import new_store, store

pytestmark = pytest.mark.fast  # no training: the developer's tier


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache: the empty store is made here by the test."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(new_store.CACHE_DIR, str(folder))
    return folder


class Migrations(logging.Handler):
    """MLflow says when it creates a store's tables (its migrations)."""

    def __init__(self):
        super().__init__()
        self.said = []

    def emit(self, record):
        if "database tables" in record.getMessage():
            self.said.append(record.getMessage())

    def __enter__(self):
        self.logger = logging.getLogger("mlflow.store.db.utils")
        self.level = self.logger.level  # a quiet CLI run may have raised it
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(self)
        return self.said

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.logger.setLevel(self.level)


def _schema(path):
    """Every table, index and column as written, and the schema revision. The order of a
    table's clauses is left out: MLflow's own migrations write constraints in an order
    that changes with Python's hash seed."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
        revision = db.execute("SELECT * FROM alembic_version").fetchall()
    return {name: (kind, sorted(line.strip().rstrip(",") for line in (sql or "").splitlines()))
            for kind, name, sql in rows}, revision


def _experiments(uri):
    return [(e.name, e.artifact_location)
            for e in MlflowClient(tracking_uri=uri).search_experiments()]


def test_a_copied_store_is_the_store_mlflow_makes(tmp_path, cache, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    assert new_store.create(ours / "mlflow.db")
    with Migrations() as said:
        _experiments(f"sqlite:///{ours}/mlflow.db")  # MLflow opens the copy
    assert said == []  # no migrations: the tables were there
    _experiments(f"sqlite:///{theirs}/mlflow.db")  # MLflow makes this one itself
    assert _schema(ours / "mlflow.db") == _schema(theirs / "mlflow.db")
    # The Default experiment MLflow adds is where it puts its own (under the working
    # directory), not where the cached file was made.
    assert _experiments(f"sqlite:///{ours}/mlflow.db") == \
        _experiments(f"sqlite:///{theirs}/mlflow.db") == [("Default", f"{tmp_path}/mlruns/0")]
    assert list(cache.glob("*.db")) == [new_store.template()]


def test_the_empty_store_is_made_once_and_copied_after(tmp_path, cache):
    with Migrations() as said:
        new_store.create(tmp_path / "a.db")
        made = new_store.template().stat().st_mtime_ns
        new_store.create(tmp_path / "b.db")
    assert len([s for s in said if s.startswith("Creating")]) == 1
    assert new_store.template().stat().st_mtime_ns == made


def test_the_cli_store_check_opens_a_new_store_from_the_copy(tmp_path, cache):
    uri = f"sqlite:///{tmp_path}/new/mlflow.db"
    new_store.template()  # made already, as after a first run on the machine
    try:
        with Migrations() as said:
            store.check_store("fresh", tracking_uri=uri)
            assert mlflow.get_experiment_by_name("fresh") is not None
        assert said == []
    finally:
        mlflow.set_tracking_uri(None)


def test_an_existing_store_is_never_replaced(tmp_path, cache):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    run = client.create_run(client.create_experiment("kept"))
    assert not new_store.create(tmp_path / "mlflow.db")
    assert client.get_run(run.info.run_id).info.run_id == run.info.run_id


def test_stores_made_at_once_each_open_and_one_wins_each_path(tmp_path, cache):
    paths = [tmp_path / f"s{i % 2}" / "mlflow.db" for i in range(6)]  # 3 makers per path
    made = [None] * len(paths)

    def make(i):
        made[i] = new_store.create(paths[i])

    threads = [threading.Thread(target=make, args=(i,)) for i in range(len(paths))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(made) == [False] * 4 + [True] * 2
    for folder in ("s0", "s1"):
        assert _experiments(f"sqlite:///{tmp_path / folder}/mlflow.db")[0][0] == "Default"
        assert [p.name for p in (tmp_path / folder).iterdir()] == ["mlflow.db"]  # no leftovers


@pytest.mark.parametrize("uri,path", [
    ("sqlite:///mlflow.db", "mlflow.db"), ("sqlite:////abs/m.db", "/abs/m.db"),
    ("sqlite:///:memory:", None), ("sqlite://", None), ("sqlite:///m.db?mode=ro", None),
    ("http://127.0.0.1:5000", None), ("postgresql://u@h/db", None)])
def test_only_local_sqlite_files_are_made(uri, path):
    got = new_store.sqlite_path(uri)
    assert (str(got) if got is not None else None) == path
