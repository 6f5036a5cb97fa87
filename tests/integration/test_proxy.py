"""Many workers through Optuna's gRPC storage proxy: a real PostgreSQL, a real
`pruning storage-proxy` in front of it, real `pruning tune` workers, on loopback. The
MLflow store is a sqlite file (the proxy is about the study's storage; the MLflow server
path has its own tier in test_team.py).
"""
import os
import signal
import subprocess
import sys
import time
import uuid

import optuna
import pytest
from mlflow.tracking import MlflowClient

from .trials import wait_for_running_trial
from .servers import Postgres, StorageProxy

TrialState = optuna.trial.TrialState
TINY = ["--dataset", "synthetic", "--pretrain-epochs", "1", "--batch-size", "64",
        "--mask-updates", "4", "--latency-runs", "5", "--latency-window", "0",
        "--calibration-samples", "16", "--trial-pruner", "none",
        "--search", "power=float:1:4", "--heartbeat-interval", "1", "--grace-period", "4"]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("proxy")
    pg = Postgres()
    proxy = StorageProxy(pg.url("optuna"), folder / "proxy.log")
    # One engine for the test's own reads: a study loaded from a URL each poll would open
    # a connection pool each time, and a long suite runs out of PostgreSQL's clients.
    database = optuna.storages.RDBStorage(
        pg.url("optuna"), engine_kwargs={"pool_size": 1, "pool_pre_ping": True})
    try:
        yield type("Servers", (), dict(pg=pg, proxy=proxy, folder=folder, database=database,
                                       tracking=f"sqlite:///{folder / 'mlflow.db'}"))
    finally:
        database.engine.dispose()
        proxy.stop()
        pg.stop()


def _clean_env(**extra) -> dict:
    """This process's environment without what earlier tests of the suite left in it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return {**env, "PRUNING_HEARTBEAT_SECONDS": "1", **{k: str(v) for k, v in extra.items()}}


def _worker(servers, study, n_trials, *extra, **env):
    env = _clean_env(MLFLOW_TRACKING_URI=servers.tracking, MLFLOW_EXPERIMENT_NAME=study,
                     **env)
    return subprocess.Popen([sys.executable, "-m", "pruning", "tune", *TINY,
                             "--study-name", study, "--storage", servers.proxy.url,
                             "--n-trials", str(n_trials), *extra],
                            env=env, cwd=servers.folder, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc, code=0, timeout=900):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == code, err[-3000:]
    return out, err


def _trials(servers, study):
    """Read from PostgreSQL itself, not through the proxy under test."""
    return optuna.load_study(study_name=study, storage=servers.database).trials


def _runs(servers, study, role):
    client = MlflowClient(servers.tracking)
    exp = client.get_experiment_by_name(study)
    return [r for r in client.search_runs([exp.experiment_id], max_results=1000)
            if r.data.tags.get("pruning.role") == role]


def _wait_for_running_trial(servers, study, timeout=300):
    return wait_for_running_trial(lambda: _trials(servers, study), timeout)


def _assert_every_trial_once(servers, study, n):
    trials = _trials(servers, study)
    assert len(trials) == n and all(t.state == TrialState.COMPLETE for t in trials), \
        [(t.number, t.state.name) for t in trials]
    drawn = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(drawn)) == n, drawn  # distinct parameters
    (parent,) = _runs(servers, study, "study")
    runs = _runs(servers, study, "experiment")
    assert sorted(int(r.data.tags["trial_number"]) for r in runs) == list(range(n))
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {parent.info.run_id}
    assert all(r.info.status == "FINISHED" for r in runs + [parent])


def test_workers_share_a_study_through_the_proxy_across_its_restart_and_the_databases(
        servers):
    study = f"through-{uuid.uuid4().hex[:8]}"
    # A grace period longer than the outages: trials silent while the proxy is away are
    # not lost (the heartbeat tests below use 4 s).
    workers = [_worker(servers, study, 3, "--search", "retrain_epochs=int:30:40",
                       "--grace-period", "30") for _ in range(3)]
    _wait_for_running_trial(servers, study)
    assert servers.proxy.stop() == 0  # SIGTERM: how a pod is stopped
    time.sleep(3)
    servers.proxy.start()
    _wait_for_running_trial(servers, study)
    servers.pg.down_for(5)  # behind the proxy: its calls wait for the database
    errors = [_finish(w)[1] for w in workers]
    assert any("storage proxy not answering; retrying" in e for e in errors)
    assert "Optuna database not answering; retrying" in servers.proxy.log.read_text()
    _assert_every_trial_once(servers, study, 9)


def test_a_worker_killed_behind_the_proxy_is_found_by_its_heartbeat_and_rerun(servers):
    study = f"killed-{uuid.uuid4().hex[:8]}"
    slow = _worker(servers, study, 1, "--search", "retrain_epochs=int:300:301")
    victim = _wait_for_running_trial(servers, study)
    assert victim.system_attrs["pruning:heartbeat"] > 0  # beating through the proxy
    slow.send_signal(signal.SIGKILL)
    slow.wait(timeout=60)
    _finish(_worker(servers, study, 1, "--search", "retrain_epochs=int:1:2"))
    trials = _trials(servers, study)
    assert trials[victim.number].state == TrialState.FAIL
    (retried,) = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert retried.state == TrialState.COMPLETE and retried.params == victim.params
    lost = MlflowClient(servers.tracking).get_run(victim.user_attrs["mlflow_run_id"])
    assert lost.info.status == "FAILED" and "worker lost" in lost.data.tags["error"]


def test_a_proxy_gone_for_good_stops_the_worker_with_one_line_and_its_trial_is_rerun(
        servers):
    study = f"gone-{uuid.uuid4().hex[:8]}"
    worker = _worker(servers, study, 1, "--search", "retrain_epochs=int:300:301",
                     PRUNING_STORAGE_OUTAGE_SECONDS=5)
    victim = _wait_for_running_trial(servers, study)
    servers.proxy.stop()
    try:
        _, err = _finish(worker, code=3, timeout=300)
    finally:
        servers.proxy.start()
    assert "storage proxy stayed unreachable for 5 s" in err.strip().splitlines()[-1]
    assert "Traceback" not in err
    # The trial its worker could not close is failed by the next worker's heartbeat check
    # and run again: nothing stays RUNNING for good.
    _finish(_worker(servers, study, 1, "--search", "retrain_epochs=int:1:2"))
    trials = _trials(servers, study)
    assert trials[victim.number].state == TrialState.FAIL
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert [t.state for t in trials if t.system_attrs.get("failed_trial") == victim.number] \
        == [TrialState.COMPLETE]


def test_a_proxy_nobody_runs_is_refused_with_one_line_and_no_run(tmp_path):
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = subprocess.run([sys.executable, "-m", "pruning", "tune", *TINY,
                           "--storage", "grpc://127.0.0.1:9", "--tracking-uri", tracking],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env=_clean_env())
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(
        "pruning: error: storage='grpc://127.0.0.1:9': no Optuna storage proxy answered")
    client = MlflowClient(tracking)
    assert not [r for e in client.search_experiments()
                for r in client.search_runs([e.experiment_id])]
