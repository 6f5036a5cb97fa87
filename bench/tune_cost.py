"""What tuning costs: (1) one trial with the dense cache vs without, (2) a study with trial
early stopping (median pruner) vs without, same sampler seed and number of trials.

    python bench/tune_cost.py --data-dir ../data --dataset mnist --trials 12

Prints seconds per trial, and total retraining epochs and best validation accuracy per
study. Uses a temporary MLflow store and Optuna storage.
"""
import argparse
import os
import tempfile
import time

import pruning  # noqa: F401  (sets TF_USE_LEGACY_KERAS)


def trial_seconds(pipeline, config, outputs) -> float:
    start = time.perf_counter()
    pipeline.run(config, outputs=outputs)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--trials", type=int, default=12)
    args = parser.parse_args()

    import mlflow
    import optuna

    from pruning.experiment import pipeline
    from pruning.studies import trials, tune
    from pruning.config import ExperimentConfig
    from pruning.studies.configs import TuneConfig

    base = ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir, model=args.model,
                            pretrain_epochs=args.pretrain_epochs, mask_log_every=0)
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        mlflow.set_experiment("bench")
        # One trial as `tune` runs it (no test set, no TFLite). The first run of a config
        # misses the cache and pre-trains; the same config again finds the dense model.
        outputs = pipeline.Outputs(**trials.TRIAL_OUTPUTS, keep_model=False)
        config = base.replace(retrain_epochs=3)
        uncached = trial_seconds(pipeline, config, outputs)
        cached = trial_seconds(pipeline, config, outputs)
        print(f"{args.model} on {args.dataset}, {args.pretrain_epochs} pre-training epochs, "
              "3 retraining epochs")
        print(f"trial without cache : {uncached:6.1f} s")
        print(f"trial with cache    : {cached:6.1f} s  ({cached / uncached:.2f}x)")

        results = {}
        for pruner in ("none", "median"):
            config = TuneConfig(n_trials=args.trials, trial_pruner=pruner,
                                study_name=f"bench-{pruner}",
                                storage=f"sqlite:///{tmp}/optuna.db")
            start = time.perf_counter()
            tune.run_study(base, config, print_line=lambda line: None)
            study = optuna.load_study(study_name=config.study_name,
                                      storage=config.storage)
            epochs = sum(t.user_attrs.get("retrain_epochs_run", 0) for t in study.trials)
            results[pruner] = (epochs, study.best_value, time.perf_counter() - start)
        for pruner, (epochs, best, seconds) in results.items():
            print(f"trial_pruner={pruner:6s}: {epochs:3d} retraining epochs, best val "
                  f"accuracy {best:.4f}, {seconds:.0f} s for {args.trials} trials")
        (e0, b0, _), (e1, b1, _) = results["none"], results["median"]
        print(f"early stopping: {e1 / e0:.2f}x the epochs, best accuracy "
              f"{100 * (b1 - b0):+.2f} points")


if __name__ == "__main__":
    main()
