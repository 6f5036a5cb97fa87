"""`pruning storage-proxy`: Optuna's gRPC storage proxy in front of one database.

Workers hold a gRPC channel each; the proxy holds at most `pool_size` database
connections, however many workers there are, and caches the study's finished trials
(Optuna's `_CachedStorage`, what `optuna.storages.get_storage` wraps an RDB in). A
restart of the database behind it is ridden out as in a worker (storages.reconnecting_rdb):
calls wait, then go on. The proxy keeps no state of its own: restart it at will.
"""
from __future__ import annotations

import socket
import warnings
from concurrent.futures import ThreadPoolExecutor

import optuna
import sqlalchemy

from pruning.errors import ConfigError
from pruning.studies import storages


def shown(url: str) -> str:
    """The URL without its password, for lines and logs."""
    return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)


def serve(url: str, host: str, port: int, threads: int, pool_size: int, say) -> None:
    """Serve until stopped (SIGTERM, Ctrl-C: KeyboardInterrupt, a normal end)."""
    _check_free(host, port)
    try:
        database = storages.reconnecting_rdb(url, say, engine_kwargs={
            "pool_size": pool_size, "max_overflow": 0})
    except Exception as e:  # SQLAlchemy's errors for a bad URL or an unreachable server
        raise ConfigError("storage", f"storage={shown(url)!r} is unusable: "
                          f"{str(e).splitlines()[0]}") from None
    storage = optuna.storages.get_storage(database)  # the cached storage, as Optuna advises
    reach = "THIS_HOST" if host in ("0.0.0.0", "::", "[::]") else host
    say(f"Optuna storage proxy for {shown(url)} on {host}:{port} ({threads} threads, at "
        f"most {pool_size} database connections); workers: --storage grpc://{reach}:{port}")
    try:
        # "experimental" since Optuna 4.2; the warning would say so on every start.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.run_grpc_proxy_server(
            storage, host=host, port=port,
            thread_pool=ThreadPoolExecutor(max_workers=threads,
                                           thread_name_prefix="optuna-proxy"))
    except RuntimeError as e:  # gRPC could not bind the address
        raise ConfigError("port", f"port={port}: cannot listen on {host}:{port} ({e})") from None
    except KeyboardInterrupt:  # SIGTERM too (cli.main): how a pod or a service is stopped
        say("storage proxy stopped; the study is in the database, workers wait for a proxy")


def _check_free(host: str, port: int) -> None:
    """gRPC binds with SO_REUSEPORT: a second proxy on a taken port would start and
    share the requests with the first. A plain bind finds the port taken."""
    try:
        family = socket.getaddrinfo(host.strip("[]"), port, proto=socket.IPPROTO_TCP)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # Connections of a proxy just stopped (TIME_WAIT) do not hold the port.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host.strip("[]"), port))
    except OSError as e:
        raise ConfigError("port", f"port={port}: cannot listen on {host}:{port} "
                          f"({e.strerror or e})") from None
