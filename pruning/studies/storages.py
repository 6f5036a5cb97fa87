"""Optuna storages: a journal file, a database that may restart under a study, or
Optuna's gRPC proxy in front of one (for many workers).

RDB and proxy storages get heartbeats (a dead worker's trial is failed and re-queued)
and ride out a restart of the database or the proxy: connections are checked before
use (`pool_pre_ping`), and a call that finds its server gone is retried with backoff
for up to `OUTAGE_SECONDS` before the worker stops with one line.
"""
from __future__ import annotations

import functools
import os
import time

import optuna
import sqlalchemy.exc

from pruning.errors import ConfigError, StorageUnavailable
from pruning.registry import Registry
from pruning.studies import grpc_storage, storage_urls

# How long a worker waits for its database (or proxy) to come back;
# PRUNING_STORAGE_OUTAGE_SECONDS overrides it (tests of a server gone for good).
OUTAGE_SECONDS = float(os.environ.get("PRUNING_STORAGE_OUTAGE_SECONDS") or 120)
BACKOFF_SECONDS = (0.5, 1, 2, 4, 8, 15)  # then every 15 s
# The private calls of a storage that others make: the stale-trial query (Optuna's
# heartbeat), and what the proxy's cache (optuna's _CachedStorage) calls on its RDB.
PRIVATE_CALLS = ("_get_stale_trial_ids", "_get_trials", "_create_new_trial",
                 "_set_trial_param", "_get_best_trial_id")
PROXY_CONNECT_SECONDS = 10  # a proxy that does not answer a new worker in this is refused


def _disconnected(error: BaseException) -> bool:
    """The database went away (restart, failover, network), not a bad request."""
    while error is not None:
        if isinstance(error, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)) \
                or getattr(error, "connection_invalidated", False):
            return True
        error = error.__cause__ or error.__context__
    return False


def _retrying(method, say, disconnected, what: str, reconnect):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        start, attempt = time.time(), 0
        while True:
            try:
                result = method(self, *args, **kwargs)
                self.given_up = False  # back (a proxy outlives its database's outages)
                return result
            except Exception as e:
                if not disconnected(e):
                    raise
                # Once given up, later calls (the error paths' own writes) try once: the
                # worker's one line comes now, not minutes of retries later.
                if getattr(self, "given_up", False) or time.time() - start > OUTAGE_SECONDS:
                    self.given_up = True
                    raise StorageUnavailable(f"storage: the Optuna {what} stayed unreachable "
                                             f"for {OUTAGE_SECONDS:.0f} s; stopped (the study is "
                                             "kept: run the same command to resume)") from None
                if attempt == 0:
                    say(f"Optuna {what} not answering; retrying with backoff")
                time.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
                reconnect(self)
                attempt += 1
    return call


def _reconnecting(cls, say, disconnected, what: str, reconnect=lambda storage: None):
    """`cls` with every public call (and PRIVATE_CALLS) retried while its server
    is unreachable. A write that reached the database just before the connection dropped
    may be retried; Optuna's writes are keyed, so it fails, not doubles."""
    skip = getattr(cls, "NOT_RETRIED", ())
    methods = {name: _retrying(getattr(cls, name), say, disconnected, what, reconnect)
               for name in dir(cls) if callable(getattr(cls, name)) and name not in skip
               and (not name.startswith("_") or name in PRIVATE_CALLS)}
    return type(f"Reconnecting{cls.__name__}", (cls,), methods)


def _database_gone(error: BaseException) -> bool:
    return isinstance(error, (optuna.exceptions.StorageInternalError,
                              sqlalchemy.exc.SQLAlchemyError)) and _disconnected(error)


def reconnecting_rdb(url: str, say, **kwargs):
    """An RDBStorage that rides out a restart of its database."""
    engine = {"pool_pre_ping": True, **kwargs.pop("engine_kwargs", {})}
    return _reconnecting(optuna.storages.RDBStorage, say, _database_gone, "database")(
        url, engine_kwargs=engine, **kwargs)


STORAGES = Registry("storage")


@STORAGES.register("journal")
def _journal(url, tune, lost, say):
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(url))


@STORAGES.register("rdb")
def _rdb(url, tune, lost, say):
    return reconnecting_rdb(url, say, heartbeat_interval=tune.heartbeat_interval,
                            grace_period=tune.grace_period,
                            heartbeat_stale_trial_callback=lost)


@STORAGES.register("grpc")
def _grpc(url, tune, lost, say):
    host, port = storage_urls.grpc_address(url)
    storage = _reconnecting(grpc_storage.HeartbeatProxy, say, grpc_storage.proxy_gone,
                            "storage proxy", grpc_storage.HeartbeatProxy.reconnect)(
        host=host, port=port, heartbeat_interval=tune.heartbeat_interval,
        grace_period=tune.grace_period, heartbeat_stale_trial_callback=lost)
    try:  # a new worker is refused at once; one already running waits (_retrying)
        storage.wait_server_ready(timeout=PROXY_CONNECT_SECONDS)
    except ConnectionError:
        raise ConfigError("storage", f"storage={url!r}: no Optuna storage proxy answered "
                          f"at {host}:{port} in {PROXY_CONNECT_SECONDS} s (start one with "
                          "`pruning storage-proxy`)") from None
    return storage


def open_storage(url: str, tune, lost, retry, say):
    """The study's storage; `lost(study, trial)` is called for a trial whose worker died."""
    make = STORAGES.get(storage_urls.kind_of(url))
    try:
        return retry(lambda: make(url, tune, lost, say))
    except ConfigError:
        raise
    except Exception as e:  # SQLAlchemy's errors for a bad URL or an unreachable server
        raise ConfigError("storage", f"storage={url!r} is unusable: {e}") from None
