"""The gRPC storage path without TensorFlow: a real `pruning storage-proxy` on a sqlite
file, Optuna's own study API through our client. Heartbeats, stale trials and the
proxy restarting under a call."""
import datetime
import threading
import time

import grpc
import optuna
import pytest

from pruning.errors import ConfigError, StorageUnavailable
from pruning.studies import grpc_storage, storages
from pruning.studies.configs import ProxyConfig, TuneConfig
from tests.integration.servers import StorageProxy

TrialState = optuna.trial.TrialState


@pytest.fixture
def proxy(tmp_path):
    server = StorageProxy(f"sqlite:///{tmp_path / 'optuna.db'}", tmp_path / "proxy.log")
    yield server
    server.stop()


def _open(proxy, lost=None, said=None):
    tune = TuneConfig(heartbeat_interval=1, grace_period=2)
    return storages.open_storage(proxy.url, tune, lost or (lambda study, trial: None),
                                 lambda make: make(), (said if said is not None else []).append)


def test_a_silent_trial_is_failed_through_the_proxy_and_handed_to_the_callback(proxy):
    lost = []
    storage = _open(proxy, lambda study, trial: lost.append(trial.number))
    study = optuna.create_study(study_name="beat", storage=storage)
    alive, silent = study.ask(), study.ask()
    storage.record_heartbeat(alive._trial_id)
    assert storage._get_stale_trial_ids(study._study_id) == []
    time.sleep(1.5)
    storage.record_heartbeat(alive._trial_id)
    time.sleep(1.0)  # silent: 2.5 s since its start; alive: 1 s since its last beat
    assert storage._get_stale_trial_ids(study._study_id) == [silent._trial_id]
    optuna.storages.fail_stale_trials(study)
    states = {t.number: t.state for t in study.get_trials()}
    assert states == {alive.number: TrialState.RUNNING, silent.number: TrialState.FAIL}
    assert lost == [silent.number]


def test_optuna_runs_the_heartbeat_thread_through_the_proxy(proxy):
    storage = _open(proxy)
    study = optuna.create_study(study_name="thread", storage=storage)
    seen = []

    def objective(trial):
        time.sleep(2.5)  # longer than grace_period: only the beats keep it alive
        seen.append(storage._get_stale_trial_ids(study._study_id))
        return trial.number

    study.optimize(objective, n_trials=1)
    assert seen == [[]]
    (trial,) = study.get_trials()
    assert trial.state == TrialState.COMPLETE
    assert trial.system_attrs[grpc_storage.HEARTBEAT] > trial.datetime_start.timestamp()


def test_a_retried_trial_counts_from_its_own_start_not_the_beats_it_inherited():
    start = datetime.datetime.now()
    old = start.timestamp() - 3600
    trial = optuna.trial.FrozenTrial(
        number=1, state=TrialState.RUNNING, value=None, datetime_start=start,
        datetime_complete=None, params={}, distributions={}, user_attrs={},
        system_attrs={grpc_storage.HEARTBEAT: old}, intermediate_values={}, trial_id=1)
    assert grpc_storage.last_sign_of_life(trial) == start.timestamp()
    later = trial.system_attrs[grpc_storage.HEARTBEAT] = start.timestamp() + 5
    assert grpc_storage.last_sign_of_life(trial) == later


def test_a_call_while_the_proxy_restarts_waits_for_it(proxy):
    said = []
    storage = _open(proxy, said=said)
    study = optuna.create_study(study_name="restart", storage=storage)
    study.enqueue_trial({"x": 1.0})
    proxy.stop()
    threading.Timer(2.0, proxy.start).start()
    began = time.time()
    assert [t.state for t in study.get_trials()] == [TrialState.WAITING]
    assert time.time() - began >= 1.5
    assert said == ["Optuna storage proxy not answering; retrying with backoff"]


class _Status(grpc.RpcError):
    """An RPC error as the gRPC client raises it: a status code and its details."""

    def __init__(self, code, details):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


def test_the_proxys_database_gone_for_good_stops_the_worker_at_once():
    assert grpc_storage.proxy_gone(_Status(grpc.StatusCode.UNAVAILABLE, "connect failed"))
    assert not grpc_storage.proxy_gone(_Status(grpc.StatusCode.NOT_FOUND, "no study"))
    assert not grpc_storage.proxy_gone(ValueError("x"))
    with pytest.raises(StorageUnavailable, match="database behind the storage proxy"):
        grpc_storage.proxy_gone(_Status(
            grpc.StatusCode.UNKNOWN, "Exception calling application: storage: the Optuna "
            "database stayed unreachable for 120 s; stopped"))


@pytest.mark.fast
@pytest.mark.parametrize("values, says", [
    ({}, "storage: give the database the proxy serves"),
    ({"storage": "study.log"}, "the proxy serves a database"),
    ({"storage": "grpc://proxy:13000"}, "the proxy serves a database"),
    ({"storage": "sqlite:///o.db", "port": 70000}, "port=70000 must be in 1..65535"),
    ({"storage": "sqlite:///o.db", "pool_size": 0}, "pool_size=0 must be >= 1"),
])
def test_a_proxy_config_refuses_what_it_cannot_serve(values, says):
    with pytest.raises(ConfigError, match=says):
        ProxyConfig(**values)


@pytest.mark.fast
@pytest.mark.parametrize("url", ["grpc://proxy", "grpc://:13000", "grpc://proxy:0",
                                 "grpc://proxy:port"])
def test_a_tune_config_refuses_a_malformed_proxy_address(url):
    with pytest.raises(ConfigError, match="a proxy is grpc://HOST:PORT"):
        TuneConfig(storage=url)
