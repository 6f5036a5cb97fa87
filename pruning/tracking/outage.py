"""A tracking server that stops answering.

MLflow's client retries every request with exponential backoff (urllib3:
MLFLOW_HTTP_REQUEST_MAX_RETRIES=7, MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=2, about four
minutes): a server restarted within that rides through. Here the retries become one
line on the terminal instead of silence, and when they run out the process stops with
one line instead of spending minutes more on calls that cannot succeed (closing the
run: it stays RUNNING, its heartbeat goes stale, `pruning runs --fail-stale` closes it).
"""
from __future__ import annotations

import contextlib
import logging
import os
import time

import mlflow
import requests

from pruning.errors import Unavailable


RETRIES = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
TIMEOUT = "MLFLOW_HTTP_REQUEST_TIMEOUT"
SAY_EVERY_SECONDS = 15.0  # at most one "retrying" line this often


class ServerUnreachable(Unavailable):
    """The tracking server stopped answering for longer than the client retries. Not a
    UserError: a study must stop on it, not go on to the next trial."""

    def __init__(self, run_id: str | None, error: BaseException):
        where = mlflow.get_tracking_uri()
        left = (f"; run {run_id} stays RUNNING until `pruning runs --fail-stale` closes it "
                "once the server is back") if run_id else ""
        super().__init__(f"tracking: {where} stopped answering ({_first_cause(error)}) and "
                         f"retries ran out; stopped{left}")
        self.run_id = run_id


def _chain(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def is_unreachable(error: BaseException) -> bool:
    """The server did not answer (refused, timed out, kept failing), as opposed to
    answering with an error about the request itself."""
    return isinstance(error, ServerUnreachable) or any(
        isinstance(e, (requests.exceptions.ConnectionError, requests.exceptions.RetryError,
                       requests.exceptions.Timeout)) or "Max retries exceeded" in str(e)
        for e in _chain(error))


def _first_cause(error: BaseException) -> str:
    text = str(error)
    for marker in ("Connection refused", "timed out", "too many", "Max retries exceeded"):
        if marker in text:
            return marker.lower()
    return type(error).__name__


@contextlib.contextmanager
def fail_fast(timeout: int | None = None):
    """No retries (and an optional timeout) for the calls in the block: checking a store,
    or giving up on one (MLflow reads the variables per call)."""
    values = {RETRIES: "0", **({TIMEOUT: str(timeout)} if timeout else {})}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _RetryLine(logging.Handler):
    """urllib3 logs each retry at WARNING; say it as one line, now and then."""

    def __init__(self, say):
        super().__init__(logging.WARNING)
        self.say, self.last, self.count = say, 0.0, 0

    def emit(self, record):
        if not record.getMessage().startswith("Retrying"):
            return
        self.count += 1
        if time.time() - self.last >= SAY_EVERY_SECONDS:
            self.last = time.time()
            self.say(f"tracking server not answering; retrying with backoff "
                     f"(retry {self.count} so far, up to ${RETRIES}={os.environ.get(RETRIES, 7)} "
                     "per call)")


def report_retries(say) -> None:
    """Turn urllib3's retry warnings into `say` lines (and nothing else on stderr)."""
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(h, _RetryLine) for h in logger.handlers):
        logger.addHandler(_RetryLine(say))
    logger.setLevel(logging.WARNING)
    logger.propagate = False
