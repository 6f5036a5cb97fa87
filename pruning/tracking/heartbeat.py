"""Heartbeats: how a run (or a claim on one) that nobody closes is told from a live one.

MLflow has no run heartbeat: a process killed with SIGKILL leaves its run RUNNING for
ever. Every run this package opens carries the tag `pruning.heartbeat` (epoch seconds),
refreshed by a daemon thread while the process lives. A RUNNING run whose beat is older
than `stale_seconds()` is dead: its dense-cache claim is taken over at once, and
`pruning runs --fail-stale` closes it FAILED.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time

from mlflow.tracking import MlflowClient

BEAT = "pruning.heartbeat"
BEAT_SECONDS = 15.0  # how often a live process refreshes its runs' beat
JOIN_SECONDS = 5  # how long stopping waits for a beat in flight
STALE_BEATS = 4  # beats missed before a run counts as dead (one minute at the default)


def beat_seconds() -> float:
    """PRUNING_HEARTBEAT_SECONDS overrides the interval (tests use 1 s)."""
    return float(os.environ.get("PRUNING_HEARTBEAT_SECONDS") or BEAT_SECONDS)


def stale_seconds() -> float:
    return STALE_BEATS * beat_seconds()


class Beater:
    """Calls `beat()` now and then every `beat_seconds()` until stopped. A failed beat
    (tracking server down) is skipped: the next one may get through."""

    def __init__(self, beat):
        self._beat, self._stop = beat, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="pruning-heartbeat")

    def _loop(self):
        while True:
            with contextlib.suppress(Exception):
                self._beat()
            if self._stop.wait(beat_seconds()):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        # A beat still in flight could land after the run is closed or a worker's
        # presence removed; wait a moment for it (not for a server that is gone).
        self._thread.join(timeout=JOIN_SECONDS)


def beating(run_id: str) -> Beater:
    """`with beating(run_id):` keeps the run's beat fresh while the block runs."""
    client = MlflowClient()
    return Beater(lambda: client.set_tag(run_id, BEAT, f"{time.time():.0f}"))


def last_beat(run) -> float:
    """Epoch seconds of a run's last sign of life: its beat, else its start."""
    beat = run.data.tags.get(BEAT)
    return float(beat) if beat else run.info.start_time / 1000


def is_stale(run, now: float | None = None) -> bool:
    return run.info.status == "RUNNING" and \
        (now or time.time()) - last_beat(run) > stale_seconds()


def stale_runs(experiment_ids: list[str] | None = None) -> list:
    """RUNNING runs that carry a beat gone stale (runs of other tools carry none and are
    never touched)."""
    client = MlflowClient()
    ids = experiment_ids or [e.experiment_id for e in client.search_experiments()]
    running = client.search_runs(ids, "attributes.status = 'RUNNING'", max_results=5000)
    now = time.time()
    return [r for r in running if BEAT in r.data.tags and is_stale(r, now)]


def fail_stale(experiment_ids: list[str] | None = None) -> list:
    """Close every stale run FAILED, saying why on the run; returns them."""
    client = MlflowClient()
    runs = stale_runs(experiment_ids)
    for run in runs:
        silent = time.time() - last_beat(run)
        client.set_tag(run.info.run_id, "error", f"process lost: no heartbeat for {silent:.0f} s "
                       "(closed by `pruning runs --fail-stale`)")
        client.set_terminated(run.info.run_id, "FAILED")
    return runs
