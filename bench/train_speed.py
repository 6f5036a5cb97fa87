"""What a training epoch of a recipe's model costs on this CPU: seconds per epoch
(extrapolated to the dataset's size from timed steps on random data) and the cores the
process got, with TensorFlow's oneDNN kernels on and off, each in a fresh process,
alternating; and the CPU seconds the augmentation pipeline takes per epoch. Not a test.

    python bench/train_speed.py --config experiments/cifar10_mobilenetv2.toml

A `cores` figure near 1.0 on a 2-core machine means the machine, not the code, was
slow: the same process here ran at 1.8 cores, then at 1.0 minutes later.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

DATASET_SIZE = {"cifar10": 50_000, "mnist": 60_000, "fashion_mnist": 60_000}
INPUT_SHAPE = {"cifar10": (32, 32, 3), "mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1)}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(config_path: str, steps: int) -> dict:
    """One process: training steps of the recipe's model on random data; the augmentation
    pipeline's CPU time for one epoch."""
    import numpy as np

    import pruning  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
    import tf_keras as keras
    from pruning.training import augment
    from pruning.models import builtin as models
    from pruning.config import ExperimentConfig

    config = ExperimentConfig.load(config_path)
    shape, n = INPUT_SHAPE[config.dataset], DATASET_SIZE[config.dataset]
    rng = np.random.default_rng(0)
    x = rng.random((n, *shape), dtype=np.float32)
    y = rng.integers(0, 10, n)
    out = {}
    if config.augment != "none":
        inputs = augment.fit_inputs(x, y, config)
        batches = iter(inputs["x"])
        cpu, start = _cpu(), time.time()
        for _ in range(inputs["steps_per_epoch"]):
            next(batches)
        out["augment_cpu_s"], out["augment_wall_s"] = _cpu() - cpu, time.time() - start
    model = models.build(config.model, shape, 10, config)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy")
    xs, ys = x[:steps * config.batch_size], y[:steps * config.batch_size]
    model.fit(xs[:5 * config.batch_size], ys[:5 * config.batch_size],
              batch_size=config.batch_size, verbose=0)  # traced outside the timing
    cpu, start = _cpu(), time.time()
    model.fit(xs, ys, batch_size=config.batch_size, verbose=0)
    seconds = time.time() - start
    out["epoch_s"] = seconds / steps * (n / config.batch_size)
    out["cores"] = (_cpu() - cpu) / seconds
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="experiments/cifar10_mobilenetv2.toml")
    parser.add_argument("--steps", type=int, default=60, help="timed training steps")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.config, args.steps)))
        return
    print(f"{args.config}: {args.steps} timed steps per process, random data")
    print("| round | oneDNN | s per epoch (train steps) | cores | augmentation CPU s/epoch |")
    print("| --- | --- | --- | --- | --- |")
    for round_ in range(1, args.rounds + 1):
        for onednn in ("1", "0"):
            env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "TF_CPP_MIN_LOG_LEVEL": "3"}
            done = subprocess.run([sys.executable, __file__, "--one", "--config", args.config,
                                   "--steps", str(args.steps)], env=env, check=True,
                                  capture_output=True, text=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            aug = f"{r['augment_cpu_s']:.1f}" if "augment_cpu_s" in r else "-"
            print(f"| {round_} | {'on' if onednn == '1' else 'off'} | {r['epoch_s']:.0f} | "
                  f"{r['cores']:.2f} | {aug} |", flush=True)


if __name__ == "__main__":
    main()
