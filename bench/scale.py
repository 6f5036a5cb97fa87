"""Tuning workers on the team path: 1, 2 and 4 `pruning tune` workers on one PostgreSQL
study logging to one `mlflow server` (artifacts proxied, backed by the same PostgreSQL),
the same small MNIST `mlp` trials each time; then one worker on a local sqlite store
for the server path's per-trial overhead; then a load check (8 workers x 5 short
synthetic trials against one server).

    python bench/scale.py --data-dir ../data            # about 15 minutes on 2 cores

`--many N`: N light workers (bench/storage_worker.py: the package's storage path around a
trial that only waits) on one PostgreSQL study, directly and then through `pruning
storage-proxy`, with the database connections held (pg_stat_activity) sampled throughout:

    python bench/scale.py --many 32 --trials-per-worker 5

Prints trials per hour (first trial start to last trial end), the mean trial time,
lost trials (not COMPLETE, or without exactly one closed MLflow run) and duplicated
ones (the same values drawn twice), and the server's error count. Not a test.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import optuna
import psycopg
from mlflow.tracking import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.integration.servers import (MlflowServer, Postgres,  # noqa: E402  (the same
                                       StorageProxy)               # real servers as tests)

MNIST = ["--dataset", "mnist", "--model", "mlp", "--pretrain-epochs", "1",
         "--retrain-epochs", "1", "--mask-updates", "10", "--trial-pruner", "none",
         "--search", "retrain_epochs=off", "--search", "begin_fraction=off",
         "--search", "end_fraction=off", "--search", "mask_updates=off",
         "--search", "retrain_lr=off"]  # power only: every trial the same size
SHORT = ["--dataset", "synthetic", "--pretrain-epochs", "1", "--retrain-epochs", "1",
         "--batch-size", "64", "--mask-updates", "2", "--trial-pruner", "none",
         "--search", "retrain_epochs=off"]


def workers(n, n_trials, flags, storage, study, env, cwd):
    procs = [subprocess.Popen([sys.executable, "-m", "pruning", "tune", *flags,
                               "--study-name", study, "--storage", storage,
                               "--n-trials", str(n_trials), "--experiment-name", study],
                              env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(n)]
    codes = [(p.wait(), p.stderr.read()) for p in procs]
    for code, err in codes:
        if code:
            print(f"  worker exited {code}: {err.strip().splitlines()[-3:]}")


def measure(study, storage, tracking_uri):
    trials = optuna.load_study(study_name=study, storage=storage).trials
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(study)
    runs = [r for r in client.search_runs([exp.experiment_id], max_results=5000)
            if r.data.tags.get("pruning.role") == "experiment"]
    per_trial = {}
    for r in runs:
        per_trial.setdefault(r.data.tags["trial_number"], []).append(r.info.status)
    lost = [t for t in trials if t.state != optuna.trial.TrialState.COMPLETE
            or per_trial.get(str(t.number)) != ["FINISHED"]]
    for t in lost:
        run_id = t.user_attrs.get("mlflow_run_id")
        where = ""
        if run_id:
            run = client.get_run(run_id)
            where = (f" (its run {run_id}: experiment {run.info.experiment_id}, "
                     f"{run.info.lifecycle_stage}, {run.info.status}, trial_number "
                     f"{run.data.tags.get('trial_number')})")
        print(f"  {study} trial {t.number}: {t.state.name}, MLflow runs "
              f"{per_trial.get(str(t.number))}{where} {t.user_attrs.get('error', '')[:300]}")
    drawn = [tuple(sorted(t.params.items())) for t in trials]
    span = (max(t.datetime_complete for t in done)
            - min(t.datetime_start for t in done)).total_seconds()
    seconds = [(t.datetime_complete - t.datetime_start).total_seconds() for t in done]
    return dict(trials=len(trials), per_hour=len(done) / span * 3600,
                mean=statistics.mean(seconds), lost=len(lost), duplicated=len(drawn) - len(set(drawn)),
                open_runs=sum(1 for r in runs if r.info.status == "RUNNING"))


def many(n: int, n_trials: int, trial_seconds: float) -> None:
    """N light workers on one study, directly against PostgreSQL, then through the proxy."""
    folder = Path(tempfile.mkdtemp(prefix="pruning-many-"))
    pg = Postgres()
    proxy = StorageProxy(pg.url("optuna"), folder / "proxy.log", pool_size=8)
    rows = []
    try:
        for path, storage in (("direct", pg.url("optuna")), ("proxy", proxy.url)):
            study = f"many-{path}-{n}"
            with sampling_connections(pg) as held:
                began = time.time()
                procs = [subprocess.Popen(
                    [sys.executable, str(Path(__file__).parent / "storage_worker.py"),
                     "--storage", storage, "--study", study, "--n-trials", str(n_trials),
                     "--trial-seconds", str(trial_seconds)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                    for _ in range(n)]
                failed = [p.stderr.read()[-500:] for p in procs if p.wait()]
                wall = time.time() - began
            for err in failed:
                print(f"  {path} worker failed: {err}")
            trials = optuna.load_study(study_name=study, storage=pg.url("optuna")).trials
            done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
            drawn = [tuple(sorted(t.params.items())) for t in trials]
            span = (max(t.datetime_complete for t in done)
                    - min(t.datetime_start for t in done)).total_seconds()
            rows.append((path, len(trials), n * n_trials - len(done),
                         len(drawn) - len(set(drawn)), len(done) / span * 3600,
                         statistics.mean((t.datetime_complete - t.datetime_start)
                                         .total_seconds() for t in done),
                         max(held), statistics.median(held), wall))
    finally:
        proxy.stop()
        pg.stop()
    print(f"\n{n} workers x {n_trials} trials of {trial_seconds:.0f} s (waiting, one "
          f"attribute write per quarter), one PostgreSQL study; {os.cpu_count()} cores")
    print(f"{'path':8} {'trials':>6} {'lost':>5} {'dup':>4} {'trials/h':>9} {'mean trial s':>12} "
          f"{'db conns max':>12} {'median':>7} {'wall s':>7}")
    for path, trials, lost, dup, per_hour, mean, most, median, wall in rows:
        print(f"{path:8} {trials:6d} {lost:5d} {dup:4d} {per_hour:9.0f} {mean:12.2f} "
              f"{most:12d} {median:7.0f} {wall:7.0f}")


class sampling_connections:
    """Connections to the study's database (pg_stat_activity), sampled every 0.5 s."""

    def __init__(self, pg):
        self.pg, self.held, self.stop = pg, [], threading.Event()

    def _sample(self):
        with psycopg.connect(f"host=127.0.0.1 port={self.pg.port} user=postgres "
                             "dbname=postgres", autocommit=True) as db:
            while not self.stop.is_set():
                (count,) = db.execute("SELECT count(*) FROM pg_stat_activity "
                                      "WHERE datname = 'optuna'").fetchone()
                self.held.append(count)
                self.stop.wait(0.5)

    def __enter__(self):
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self.held

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--trials-per-worker", type=int, default=4)
    parser.add_argument("--load-only", action="store_true", help="only the load check")
    parser.add_argument("--overhead-only", action="store_true",
                        help="only 1 worker on the server and 1 on local sqlite")
    parser.add_argument("--many", type=int, default=0, metavar="N",
                        help="only the many-worker storage comparison, with N workers")
    parser.add_argument("--trial-seconds", type=float, default=2.0,
                        help="length of a light worker's trial (--many)")
    args = parser.parse_args()
    if args.many:
        return many(args.many, args.trials_per_worker, args.trial_seconds)
    if not args.data_dir:
        parser.error("--data-dir is needed (or --many N)")
    data = ["--data-dir", str(Path(args.data_dir).resolve())]
    folder = Path(tempfile.mkdtemp(prefix="pruning-scale-"))
    (folder / "artifacts").mkdir()
    pg = Postgres()
    server = MlflowServer(pg.url("mlflow"), folder / "artifacts")
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.url}
    env.pop("MLFLOW_RUN_ID", None)
    rows = []
    try:
        for n in () if args.load_only else (1,) if args.overhead_only else (1, 2, 4):
            study = f"scale-{n}"
            workers(n, args.trials_per_worker, MNIST + data, pg.url("optuna"), study, env, folder)
            rows.append((f"server, {n} worker{'s' * (n > 1)}",
                         measure(study, pg.url("optuna"), server.url)))
        local = folder / "local"
        local.mkdir()
        sqlite = f"sqlite:///{local / 'mlflow.db'}"
        if not args.load_only:
            workers(1, args.trials_per_worker, MNIST + data, f"sqlite:///{local / 'optuna.db'}",
                    "scale-local", {**env, "MLFLOW_TRACKING_URI": sqlite}, local)
            rows.append(("local sqlite, 1 worker",
                         measure("scale-local", f"sqlite:///{local / 'optuna.db'}", sqlite)))
        load = None
        if not args.overhead_only:
            workers(8, 5, SHORT, pg.url("optuna"), "load-8x5", env, folder)
            load = measure("load-8x5", pg.url("optuna"), server.url)
    finally:
        server.stop()
        pg.stop()
    print(f"\nMNIST mlp, 1 retraining epoch per trial, {args.trials_per_worker} trials per "
          f"worker; this machine: {os.cpu_count()} cores (4 workers share 2 cores)")
    print(f"{'setup':26} {'trials':>6} {'trials/h':>9} {'mean trial s':>12} {'lost':>5} "
          f"{'dup':>4} {'open runs':>9}")
    for name, m in rows:
        print(f"{name:26} {m['trials']:6d} {m['per_hour']:9.0f} {m['mean']:12.1f} "
              f"{m['lost']:5d} {m['duplicated']:4d} {m['open_runs']:9d}")
    if rows:
        server_one, local_one = rows[0][1]["mean"], rows[-1][1]["mean"]
        print(f"server path overhead per trial (1 worker): {server_one - local_one:+.1f} s "
              f"({server_one / local_one - 1:+.0%})")
    if load is None:
        return
    print(f"load check, 8 workers x 5 synthetic trials: {load['trials']} trials, "
          f"{load['lost']} lost, {load['duplicated']} duplicated, {load['open_runs']} runs "
          f"left open; server errors in its log: {server.errors()}")


if __name__ == "__main__":
    main()
