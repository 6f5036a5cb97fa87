"""Logging off the critical path: what a run logs goes out while the next step runs.

Metrics, params and tags go through MLflow's own asynchronous logging
(`synchronous=False`); artifacts (mask snapshots, figures, texts, the model) through a
small pool of threads here. Nothing may be lost: `flush` waits for both, and every run
this package opens flushes before it ends, however it ends (normally, by an error, or by
SIGTERM, which the CLI turns into KeyboardInterrupt). A failed upload surfaces at the
flush as the error it was.

Why a pool of two: uploads are I/O to a store or a server (one thread waits on the
network while the other draws or writes), and training keeps the cores.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import mlflow
from mlflow.environment_variables import MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS

# Why buffer: unbuffered, MLflow's queue thread blocks in `queue.get(timeout=1)` and only
# then sees a flush's stop signal, so every flush (each run's end, and MLflow's own at
# set_terminated) waited up to 1 s (docs/benchmarks.md: a run's cost). Buffered, the thread
# waits on the stop event itself and a flush returns at once; the metrics of the last
# BUFFER_SECONDS go out together, one batch. A user's own setting wins.
BUFFER_SECONDS = 1  # whole seconds (MLflow parses an int)
if not MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS.is_set():
    MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS.set(BUFFER_SECONDS)

_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pruning-logging")
_pending: list[Future] = []
_lock = threading.Lock()


def submit(function, *args, **kwargs) -> Future:
    """`function(*args, **kwargs)` on the logging threads; its error comes out at `flush`."""
    future = _pool.submit(function, *args, **kwargs)
    with _lock:
        _pending.append(future)
    return future


def flush() -> None:
    """Wait until everything submitted, and MLflow's asynchronous queue, has landed; the
    first error of a failed upload is raised after all the others were waited for."""
    with _lock:
        pending, _pending[:] = list(_pending), []
    errors = [f.exception() for f in pending]
    mlflow.flush_async_logging()
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
