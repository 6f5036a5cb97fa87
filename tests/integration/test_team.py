"""The team tier: every entry point against a real `mlflow server` (artifacts proxied)
backed by a real PostgreSQL server, Optuna studies in the same PostgreSQL, and the
faults a shared setup meets. No sqlite here, no mocks.
"""
import os
import signal
import subprocess
import sys
import time
import uuid

import mlflow
import optuna
import pytest
from mlflow.tracking import MlflowClient

from .trials import wait_for_running_trial
from .servers import MlflowServer, Postgres

TrialState = optuna.trial.TrialState
TINY = ["--dataset", "synthetic", "--pretrain-epochs", "1", "--retrain-epochs", "2",
        "--batch-size", "64", "--mask-updates", "4", "--latency-runs", "5", "--latency-window", "0",
        "--calibration-samples", "16"]
SPACE = ["--search", "retrain_epochs=int:1:3", "--search", "power=float:1:4",
         "--trial-pruner", "none"]
BEAT = ["--heartbeat-interval", "1", "--grace-period", "4"]


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    folder = tmp_path_factory.mktemp("team")
    (folder / "artifacts").mkdir()
    pg = Postgres()
    server = MlflowServer(pg.url("mlflow"), folder / "artifacts")
    # One engine for the test's own reads of the study (a URL per poll: a pool per poll).
    database = optuna.storages.RDBStorage(
        pg.url("optuna"), engine_kwargs={"pool_size": 1, "pool_pre_ping": True})
    team = type("Team", (), dict(pg=pg, server=server, folder=folder,
                                 storage=pg.url("optuna"), database=database))
    mlflow.set_tracking_uri(server.url)
    try:
        yield team
    finally:
        database.engine.dispose()
        mlflow.set_tracking_uri(None)
        server.stop()
        pg.stop()


@pytest.fixture
def experiment(team):
    """A fresh experiment on the shared server, for this test's processes."""
    name = f"team-{uuid.uuid4().hex[:8]}"
    MlflowClient().create_experiment(name)
    return name


def _env(team, experiment, **extra):
    env = {**os.environ, "MLFLOW_TRACKING_URI": team.server.url,
           "MLFLOW_EXPERIMENT_NAME": experiment or "", "PRUNING_HEARTBEAT_SECONDS": "1",
           **{k: str(v) for k, v in extra.items()}}
    for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID") + (() if experiment else
                                                            ("MLFLOW_EXPERIMENT_NAME",)):
        env.pop(var, None)
    return env


def _start(team, experiment, *args, **env):
    return subprocess.Popen([sys.executable, "-m", "pruning", *args],
                            env=_env(team, experiment, **env), cwd=team.folder,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc, code=0, timeout=900):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == code, err[-3000:]
    return out, err


def _worker(team, experiment, study, n_trials, *extra, **env):
    return _start(team, experiment, "tune", *TINY, *SPACE, *BEAT, "--study-name", study,
                  "--storage", team.storage, "--n-trials", str(n_trials), *extra, **env)


def _runs(experiment, role=None):
    client = MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    return [r for r in runs if role is None or r.data.tags.get("pruning.role") == role]


def _trials(team, study):
    return optuna.load_study(study_name=study, storage=team.database).trials


def _wait_for_running_trial(team, study, timeout=300):
    return wait_for_running_trial(lambda: _trials(team, study), timeout)


def _assert_failed_and_rerun(team, study, victim):
    """The victim trial FAILed, and a retry of it, with its values, completed."""
    trials = _trials(team, study)
    assert trials[victim.number].state == TrialState.FAIL
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert retried and retried[0].state == TrialState.COMPLETE
    assert retried[0].params == victim.params


def _workers_on(experiment):
    (parent,) = _runs(experiment, "study")
    return [k for k in parent.data.tags if k.startswith("pruning.worker.")]


def _assert_nothing_left_running(experiment):
    assert [r.info.run_name for r in _runs(experiment) if r.info.status == "RUNNING"] == []


def test_run_sweep_and_report_against_the_server(team, experiment):
    _finish(_start(team, experiment, "run", *TINY))
    _finish(_start(team, experiment, "run", *TINY, "--final-sparsity", "0.8"))
    runs = _runs(experiment, "experiment")
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    cached = sorted(r.data.tags["pretrain_cached"] for r in runs)
    assert cached == ["false", "true"]  # the dense cache is found through the server
    artifacts = {a.path for a in MlflowClient().list_artifacts(runs[0].info.run_id)}
    assert "config.json" in artifacts and "model_int8.tflite" in artifacts  # proxied
    _finish(_start(team, experiment, "sweep", *TINY, "--sparsities", "0.5,0.9",
                   "--methods", "weight"))
    (sweep,) = _runs(experiment, "sweep")
    assert sweep.info.status == "FINISHED"
    # The report reads runs through the server without importing TensorFlow.
    code = ("import sys\nfrom pruning import cli\nrc = cli.main(sys.argv[1:])\n"
            "print('tensorflow' in sys.modules)\nsys.exit(rc)")
    report = subprocess.Popen([sys.executable, "-c", code, "report", "--experiment", experiment],
                              env=_env(team, experiment), cwd=team.folder, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, _ = _finish(report)
    assert "report of" in out and team.server.url in out
    assert out.strip().splitlines()[-1] == "False"
    _assert_nothing_left_running(experiment)


def test_three_workers_never_draw_the_same_trial_and_the_study_resumes(team):
    # The experiment is new: the workers race to create it, and all must use it.
    experiment = f"three-{uuid.uuid4().hex[:8]}"
    study = f"three-{experiment}"
    workers = [_worker(team, None, study, 2, "--experiment-name", experiment)
               for _ in range(3)]
    for w in workers:
        _finish(w)
    trials = _trials(team, study)
    assert len(trials) == 6 and all(t.state == TrialState.COMPLETE for t in trials)
    drawn = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(drawn)) == 6, drawn
    (parent,) = _runs(experiment, "study")
    assert parent.info.status == "FINISHED"
    runs = _runs(experiment, "experiment")
    assert sorted(int(r.data.tags["trial_number"]) for r in runs) == list(range(6))
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {parent.info.run_id}
    assert len({r.data.tags["pretrain_run_id"] for r in runs}) == 1  # one pre-training
    _finish(_worker(team, None, study, 1, "--experiment-name", experiment))  # resume
    assert len(_trials(team, study)) == 7
    assert [r.info.run_id for r in _runs(experiment, "study")] == [parent.info.run_id]
    _assert_nothing_left_running(experiment)


def test_killed_worker_trial_is_failed_closed_and_rerun_by_another(team, experiment):
    study = f"kill-{experiment}"
    slow = _worker(team, experiment, study, 1, "--search", "retrain_epochs=int:150:151")
    victim = _wait_for_running_trial(team, study)
    slow.send_signal(signal.SIGKILL)
    slow.wait(timeout=60)
    # Started at once, for one short trial: it must still see the dead trial through.
    _finish(_worker(team, experiment, study, 1, "--search", "retrain_epochs=int:1:2"))
    _assert_failed_and_rerun(team, study, victim)
    lost = MlflowClient().get_run(victim.user_attrs["mlflow_run_id"])
    assert lost.info.status == "FAILED" and "worker lost" in lost.data.tags["error"]
    (parent,) = _runs(experiment, "study")
    assert parent.info.status == "FINISHED"
    _assert_nothing_left_running(experiment)


def test_sigterm_to_one_worker_leaves_the_study_to_the_others(team, experiment):
    study = f"term-{experiment}"
    # Long enough to be still training when the other worker has loaded TensorFlow.
    stopped = _worker(team, experiment, study, 1, "--search", "retrain_epochs=int:600:601")
    victim = _wait_for_running_trial(team, study)
    other = _worker(team, experiment, study, 3, "--search", "retrain_epochs=int:1:2")
    deadline = time.time() + 120
    while time.time() < deadline and len(_workers_on(experiment)) < 2:
        time.sleep(0.5)  # both workers are on the study
    stopped.send_signal(signal.SIGTERM)
    _, err = _finish(stopped, code=130, timeout=120)
    assert "queued again" in err
    (parent,) = _runs(experiment, "study")
    assert parent.info.status == "RUNNING"  # the other worker is still on it
    _finish(other)
    _assert_failed_and_rerun(team, study, victim)
    assert MlflowClient().get_run(parent.info.run_id).info.status == "FINISHED"
    _assert_nothing_left_running(experiment)


def test_study_survives_an_mlflow_server_outage(team, experiment):
    study = f"outage-{experiment}"
    worker = _worker(team, experiment, study, 3, "--search", "retrain_epochs=int:8:10",
                     MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=1)
    _wait_for_running_trial(team, study)
    team.server.stop()
    time.sleep(20)
    team.server.start()
    _, err = _finish(worker)
    assert "retrying" in err
    trials = _trials(team, study)
    assert len(trials) == 3 and all(t.state == TrialState.COMPLETE for t in trials)
    runs = _runs(experiment, "experiment")
    assert sorted(int(r.data.tags["trial_number"]) for r in runs) == [0, 1, 2]  # once each
    _assert_nothing_left_running(experiment)


def test_study_survives_a_postgresql_restart(team, experiment):
    study = f"pg-{experiment}"
    worker = _worker(team, experiment, study, 3, "--search", "retrain_epochs=int:8:10")
    _wait_for_running_trial(team, study)
    team.pg.restart()
    time.sleep(3)
    team.pg.restart()
    _finish(worker)
    trials = _trials(team, study)
    assert len(trials) == 3 and all(t.state == TrialState.COMPLETE for t in trials)
    assert len(_runs(experiment, "experiment")) == 3
    _assert_nothing_left_running(experiment)


def test_server_gone_for_good_stops_with_one_line_and_stale_runs_are_closed(team, experiment):
    run = _start(team, experiment, "run", *TINY, "--retrain-epochs", "200",
                 MLFLOW_HTTP_REQUEST_MAX_RETRIES=2, MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=1)
    deadline = time.time() + 300
    while time.time() < deadline and not [r for r in _runs(experiment, "experiment")
                                          if "pretrain_key" in r.data.tags]:
        time.sleep(0.5)  # retraining has begun
    team.server.stop()
    start = time.time()
    try:
        _, err = _finish(run, code=3, timeout=300)
        assert time.time() - start < 120
        lines = [line for line in err.splitlines() if line.startswith("pruning: error")]
        assert len(lines) == 1 and "stopped answering" in lines[0], err[-2000:]
        assert "Traceback" not in err
    finally:
        team.server.start()
    (left,) = _runs(experiment, "experiment")
    assert left.info.status == "RUNNING"  # nobody could close it
    time.sleep(5)  # its heartbeat (1 s here) goes stale after 4 beats
    env = _env(team, experiment)
    listed = subprocess.run([sys.executable, "-m", "pruning", "runs", "--experiment", experiment],
                            env=env, capture_output=True, text=True, timeout=120)
    assert left.info.run_id in listed.stdout
    closed = subprocess.run([sys.executable, "-m", "pruning", "runs", "--fail-stale"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert closed.returncode == 0 and left.info.run_id in closed.stdout
    run = MlflowClient().get_run(left.info.run_id)
    assert run.info.status == "FAILED" and "no heartbeat" in run.data.tags["error"]


def test_tuning_worker_cut_off_from_the_server_stops_with_one_line(team, experiment):
    study = f"gone-{experiment}"
    worker = _worker(team, experiment, study, 2, "--search", "retrain_epochs=int:150:151",
                     MLFLOW_HTTP_REQUEST_MAX_RETRIES=2, MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=1)
    victim = _wait_for_running_trial(team, study)
    team.server.stop()
    start = time.time()
    try:
        _, err = _finish(worker, code=3, timeout=300)
        assert time.time() - start < 120  # no minutes of retried clean-up calls
        assert [line for line in err.splitlines() if line.startswith("pruning: error")]
        assert "Traceback" not in err
    finally:
        team.server.start()
    trials = _trials(team, study)  # the study, in PostgreSQL, survives
    assert trials[victim.number].state == TrialState.FAIL  # not RUNNING for ever
    # either the client's own error or ours, which names it ("... (connection refused) ...")
    assert "connection refused" in trials[victim.number].user_attrs["error"].lower()


def test_dead_pretraining_claim_is_taken_over(team, experiment):
    # Long enough to be killed mid-way (tf.data's pipeline made epochs of 64 fast: 400
    # of them ended before the second run was up); batches of 16, 4x the steps.
    first = _start(team, experiment, "run", *TINY, "--pretrain-epochs", "400",
                   "--batch-size", "16")
    deadline = time.time() + 300
    while time.time() < deadline and not _runs(experiment, "pretrain"):
        time.sleep(0.5)
    second = _start(team, experiment, "run", *TINY, "--pretrain-epochs", "400",
                    "--batch-size", "16", "--retrain-epochs", "1")
    # The second run is up once its own run exists (a fixed sleep was too short when the
    # machine was busy: TensorFlow's import alone took longer); then it finds the claim.
    while time.time() < deadline and len(_runs(experiment, "experiment")) < 2:
        time.sleep(0.5)
    time.sleep(5)
    first.send_signal(signal.SIGKILL)
    first.wait(60)
    killed = time.time()
    _, err = _finish(second, timeout=600)
    assert "waiting for the dense pre-training run" in err
    dead, taken = sorted(_runs(experiment, "pretrain"), key=lambda r: r.info.start_time)
    assert dead.info.status == "FAILED" and "claim taken over" in dead.data.tags["error"]
    assert taken.info.status == "FINISHED"
    # taken over a few seconds after the holder went silent (4 beats of 1 s, 3 s polls)
    assert taken.info.start_time / 1000 - killed < 15


def test_workers_creating_one_experiment_together_all_use_it(team):
    """MLflow's set_experiment, on losing the race to create an experiment, returns
    without activating it: runs would land in Default. Twelve processes race here."""
    name = f"race-{uuid.uuid4().hex[:8]}"
    code = ("import sys; from pruning.tracking import store; store.check_store(sys.argv[1]); "
            "print(store.current_experiment_id())")
    env = _env(team, None)
    procs = [subprocess.Popen([sys.executable, "-c", code, name], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(12)]
    done = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-1500:] for _, err in done]
    ids = {out.strip() for out, _ in done}
    assert ids == {MlflowClient().get_experiment_by_name(name).experiment_id}
