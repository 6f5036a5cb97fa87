"""The wait between a training phase's last epoch and the run's next step, over main-job
runs, each in a fresh store (so each pre-trains too, as a first `mlflow run .` does).

    python bench/phase_gap.py --data-dir ../data --runs 10

Prints, per run, the seconds from the last retraining epoch to the next step
("evaluating the pruned model"), and the largest over the runs.
tf.data used to hold the main thread there for up to 32 s (an iterator's destructor
waiting on its autotuning thread); docs/benchmarks.md has the figures.
"""
import argparse
import tempfile
import time

import pruning
from pruning.observers import Observer


class Clock(Observer):
    """Times of epoch ends and status lines, as the run reports them."""

    def __init__(self):
        self.events = []

    def epoch_end(self, step, metrics):
        self.events.append(("epoch", step, time.perf_counter()))

    def status(self, text):
        self.events.append(("status", text, time.perf_counter()))

    def gap_after_training(self) -> float:
        last = max(i for i, e in enumerate(self.events) if e[0] == "epoch")
        after = next(e for e in self.events[last + 1:] if e[0] == "status")
        return after[2] - self.events[last][2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="../data")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    config = pruning.ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir,
                                      recipe="none", pretrain_epochs=5, retrain_epochs=5)
    gaps = []
    for i in range(args.runs):
        clock = Clock()
        with tempfile.TemporaryDirectory() as tmp:
            began = time.perf_counter()
            pruning.run(config, observers=[clock], experiment_name="gap",
                        tracking_uri=f"sqlite:///{tmp}/mlflow.db")
        gaps.append(clock.gap_after_training())
        print(f"run {i + 1}: last retraining epoch -> next step {gaps[-1]:.2f} s "
              f"(run {time.perf_counter() - began:.1f} s)", flush=True)
    print(f"largest gap {max(gaps):.2f} s over {len(gaps)} runs; "
          f"{sum(g > 2 for g in gaps)} above 2 s")


if __name__ == "__main__":
    main()
