"""Whether the latency figures repeat now that timing stops once they settle: the main
job's speed-up ratio (dense int8 / pruned int8 latency) and how long its latency step
took, over N runs of one store (the dense model trained once, then from the cache).

    python bench/latency_ratio.py --data-dir ../data --runs 5
    python bench/latency_ratio.py --data-dir ../data --runs 5 --model cnn \
        --granularity channel --final-sparsity 0.5 --pretrain-epochs 2 --retrain-epochs 2

Prints each run's ratio and latency-step seconds (from the latency status line to the
next one), then the ratio's spread around its median.
"""
import argparse
import statistics
import tempfile
import time

import pruning
from pruning.observers import Observer


class Clock(Observer):
    def __init__(self):
        self.events = []

    def status(self, text):
        self.events.append((text, time.perf_counter()))

    def latency_seconds(self) -> float:
        i = next(i for i, (text, _) in enumerate(self.events) if "batch-1 latency" in text)
        return self.events[i + 1][1] - self.events[i][1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="../data")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--granularity", default="weight")
    parser.add_argument("--final-sparsity", type=float, default=0.9)
    parser.add_argument("--pretrain-epochs", type=int, default=5)
    parser.add_argument("--retrain-epochs", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    config = pruning.ExperimentConfig(
        dataset=args.dataset, data_dir=args.data_dir, model=args.model, recipe="none",
        granularity=args.granularity, final_sparsity=args.final_sparsity,
        pretrain_epochs=args.pretrain_epochs, retrain_epochs=args.retrain_epochs)
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            clock = Clock()
            result = pruning.run(config, observers=[clock], experiment_name="ratio",
                                 tracking_uri=f"sqlite:///{tmp}/mlflow.db")
            m = result.metrics
            ratios.append(m["dense_int8_latency_us"] / m["int8_latency_us"])
            print(f"run {i + 1}: dense int8 {m['dense_int8_latency_us']:.1f} us, pruned int8 "
                  f"{m['int8_latency_us']:.1f} us, ratio {ratios[-1]:.3f}; latency step "
                  f"{clock.latency_seconds():.2f} s", flush=True)
    middle = statistics.median(ratios)
    spread = max(abs(r / middle - 1) for r in ratios)
    print(f"{args.model} ({args.granularity}): ratio median {middle:.3f}, every run within "
          f"{spread:.1%} of it over {len(ratios)} runs")


if __name__ == "__main__":
    main()
