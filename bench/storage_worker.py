"""One light tuning worker for `bench/scale.py --many`: the package's own storage path
(`storages.open_storage`: retries, heartbeats; `TrialSeeded` TPE with constant liar, as
`pruning tune` samples) around a trial that only waits and writes an attribute per
"epoch", as a real trial's reporter does. What is measured is the storage, not
TensorFlow: dozens of these fit on a machine where a handful of real workers would.

    python bench/storage_worker.py --storage grpc://127.0.0.1:13000 --study s --n-trials 5
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pruning.studies import storages, workers  # noqa: E402
from pruning.studies.configs import TuneConfig  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", required=True)
    parser.add_argument("--study", required=True)
    parser.add_argument("--n-trials", type=int, default=5)
    parser.add_argument("--trial-seconds", type=float, default=2.0)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    tune = TuneConfig(heartbeat_interval=5, grace_period=30)
    storage = storages.open_storage(args.storage, tune, lambda study, trial: None,
                                    lambda make: make(), print)
    sampler = workers.TrialSeeded(
        lambda seed: optuna.samplers.TPESampler(seed=seed, constant_liar=True), 0)
    study = optuna.create_study(study_name=args.study, storage=storage, sampler=sampler,
                                direction="maximize", load_if_exists=True)

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        y = trial.suggest_float("y", 0.0, 1.0, log=False)
        for epoch in range(args.epochs):
            time.sleep(args.trial_seconds / args.epochs)
            trial.set_user_attr("retrain_epochs_run", epoch + 1)
        return -(x - 0.3) ** 2 - (y - 0.6) ** 2

    study.optimize(objective, n_trials=args.n_trials)


if __name__ == "__main__":
    main()
