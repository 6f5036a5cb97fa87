"""The client of Optuna's gRPC storage proxy, with heartbeats.

Optuna's `GrpcStorageProxy` has none (only `RDBStorage` implements `BaseHeartbeat`):
a worker that died behind the proxy would leave its trial RUNNING for good. Here the
client beats as RDBStorage does, but into a system attribute of the trial
(`pruning:heartbeat`, the worker's clock in epoch seconds), so that Optuna's own
`fail_stale_trials`, its stale-trial callback and `RetryHeartbeatStaleTrialCallback`
work through the proxy unchanged. The workers' clocks must agree to well within
`grace_period` (NTP does that).
"""
from __future__ import annotations

import time

import grpc
import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages._heartbeat import BaseHeartbeat

from pruning.errors import StorageUnavailable

HEARTBEAT = "pruning:heartbeat"
# How StorageUnavailable reads when the proxy's own database stayed down: the proxy
# says it as the details of an UNKNOWN status.
DATABASE_GONE = "stayed unreachable"


class HeartbeatProxy(optuna.storages.GrpcStorageProxy, BaseHeartbeat):
    NOT_RETRIED = ("record_heartbeat", "reconnect", "close", "wait_server_ready")

    def __init__(self, *, host: str, port: int, heartbeat_interval: int, grace_period: int,
                 heartbeat_stale_trial_callback=None):
        super().__init__(host=host, port=port)
        self.heartbeat_interval, self.grace_period = heartbeat_interval, grace_period
        self.stale_trial_callback = heartbeat_stale_trial_callback
        self.outage_seen = float("-inf")

    def reconnect(self) -> None:
        """A new channel: one whose server went away backs off its reconnection attempts
        for up to two minutes; a new one connects as soon as the proxy is back."""
        self.outage_seen = time.time()
        self._setup()

    def record_heartbeat(self, trial_id: int) -> None:
        # A missed beat does no harm (a trial is stale only after grace_period), and the
        # heartbeat thread must live through a proxy restart: no retry here, no raise.
        try:
            optuna.storages.GrpcStorageProxy.set_trial_system_attr(
                self, trial_id, HEARTBEAT, time.time())
        except grpc.RpcError:
            self.reconnect()  # the next beat goes out as soon as the proxy is back
        except (UpdateFinishedTrialError, KeyError, ValueError):
            pass

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        if now - self.outage_seen < self.grace_period + self.heartbeat_interval:
            # Nobody could beat while the proxy was away: a trial silent since then is
            # not yet known to be lost. Its worker beats again within an interval.
            return []
        running = self.get_all_trials(study_id, deepcopy=False,
                                      states=(optuna.trial.TrialState.RUNNING,))
        return [t._trial_id for t in running if now - last_sign_of_life(t) > self.grace_period]

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self):
        return self.stale_trial_callback


def last_sign_of_life(trial) -> float:
    """Its last beat, or its start if later: a re-queued trial carries the beats of the
    run that failed (RetryHeartbeatStaleTrialCallback copies system attributes), and its
    new worker beats only once it has sampled."""
    return max(trial.system_attrs.get(HEARTBEAT, 0.0), trial.datetime_start.timestamp())


def proxy_gone(error: BaseException) -> bool:
    """The proxy is down or restarting (retry); its database stayed down behind it (stop:
    the proxy has already waited for it)."""
    if not isinstance(error, grpc.RpcError):
        return False
    if error.code() == grpc.StatusCode.UNKNOWN and DATABASE_GONE in (error.details() or ""):
        raise StorageUnavailable("storage: the Optuna database behind the storage proxy "
                                 f"{DATABASE_GONE}; stopped (the study is kept: run the same "
                                 "command to resume)") from None
    return error.code() == grpc.StatusCode.UNAVAILABLE
