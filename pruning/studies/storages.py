"""Optuna storages: a journal file, or a database that may restart under a study.

RDB storages get Optuna's heartbeats (a dead worker's trial is failed and re-queued)
and ride out a database restart: connections are checked before use
(`pool_pre_ping`), and a call that finds the database gone is retried with backoff
for up to `OUTAGE_SECONDS` before the worker stops with one line.
"""
from __future__ import annotations

import functools
import time

import optuna
import sqlalchemy.exc

from pruning.errors import ConfigError, Unavailable
from pruning.registry import Registry

OUTAGE_SECONDS = 120  # how long a worker waits for its database to come back
BACKOFF_SECONDS = (0.5, 1, 2, 4, 8, 15)  # then every 15 s
RDB_SCHEMES = ("sqlite", "postgresql", "mysql")


class StorageUnavailable(Unavailable):
    """The study's database stayed unreachable for OUTAGE_SECONDS."""


def _disconnected(error: BaseException) -> bool:
    """The database went away (restart, failover, network), not a bad request."""
    while error is not None:
        if isinstance(error, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)) \
                or getattr(error, "connection_invalidated", False):
            return True
        error = error.__cause__ or error.__context__
    return False


def _retrying(method, say):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        start, attempt = time.time(), 0
        while True:
            try:
                return method(self, *args, **kwargs)
            except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError) as e:
                if not _disconnected(e):
                    raise
                if time.time() - start > OUTAGE_SECONDS:
                    raise StorageUnavailable(f"storage: the Optuna database stayed unreachable "
                                             f"for {OUTAGE_SECONDS} s; stopped (the study is "
                                             "kept: run the same command to resume)") from None
                if attempt == 0:
                    say("Optuna database not answering; retrying with backoff")
                time.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
                attempt += 1
    return call


def _reconnecting_rdb(say):
    """RDBStorage whose every public call (and the stale-trial query) is retried while
    the database is unreachable. A write that reached the database just before the
    connection dropped may be retried; Optuna's writes are keyed, so it fails, not doubles."""
    methods = {name: _retrying(getattr(optuna.storages.RDBStorage, name), say)
               for name in dir(optuna.storages.RDBStorage)
               if callable(getattr(optuna.storages.RDBStorage, name))
               and (not name.startswith("_") or name == "_get_stale_trial_ids")}
    return type("ReconnectingRDBStorage", (optuna.storages.RDBStorage,), methods)


STORAGES = Registry("storage")


@STORAGES.register("journal")
def _journal(url, tune, lost, say):
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(url))


@STORAGES.register("rdb")
def _rdb(url, tune, lost, say):
    return _reconnecting_rdb(say)(
        url, engine_kwargs={"pool_pre_ping": True}, heartbeat_interval=tune.heartbeat_interval,
        grace_period=tune.grace_period, heartbeat_stale_trial_callback=lost)


def kind_of(url: str) -> str:
    if url.endswith(".log") and "://" not in url:
        return "journal"
    if url.split("://")[0].split("+")[0] in RDB_SCHEMES:
        return "rdb"
    raise ConfigError("storage", f"storage={url!r} is not supported; use sqlite:///FILE, "
                      "postgresql://..., mysql://... or a journal file path ending in .log")


def open_storage(url: str, tune, lost, retry, say):
    """The study's storage; `lost(study, trial)` is called for a trial whose worker died."""
    make = STORAGES.get(kind_of(url))
    try:
        return retry(lambda: make(url, tune, lost, say))
    except Exception as e:  # SQLAlchemy's errors for a bad URL or an unreachable server
        raise ConfigError("storage", f"storage={url!r} is unusable: {e}") from None
