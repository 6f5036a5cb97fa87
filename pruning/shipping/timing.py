"""Batch-1 LiteRT latency, timed in a fresh Python process that loads LiteRT and numpy
only, every model of a comparison in the same process, round after round.

Why a child process: timed inside the process that had just trained, the same int8
files read markedly slower than in a quiet one (docs/results.md has the figures).

Why rounds, every model in each: a shared machine runs at two speeds, with slow spells
of up to several seconds. The fast figure is the machine's, so each model's latency is
the fastest of its medians. Interleaving the models puts the dense and the pruned one
through the same spells, so their ratio holds even when the absolute figures drift.

When to stop: once every model's fastest median has held (within SETTLED) for SETTLE
rounds in a row after MIN_ROUNDS: more rounds would only confirm it. `window` seconds
cap the rounds on a machine whose figures never settle (what settling costs and how well
the ratios repeat: docs/benchmarks.md).
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MIN_ROUNDS = 3
SETTLE = 3  # rounds in a row that must leave every model's fastest median...
SETTLED = 0.01  # ...within this fraction of what it was
PAUSE = 0.1  # seconds between rounds: a slow spell passes, the process sleeps


def latencies_us(tflites: list[bytes], sample: np.ndarray, runs: int,
                 window: float) -> list[float]:
    """Batch-1 single-thread latency in microseconds of each of `tflites` on `sample` (one
    input, no batch axis), measured by `measure` in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, tflite in enumerate(tflites):
            paths.append(Path(tmp) / f"model{i}.tflite")
            paths[-1].write_bytes(tflite)
        inputs = Path(tmp) / "sample.npy"
        np.save(inputs, sample[None])
        done = subprocess.run([sys.executable, "-m", "pruning.shipping.timing", str(inputs), str(runs),
                               str(window), *map(str, paths)],
                              capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"timing the TFLite model failed: {done.stderr.strip()[-500:]}")
    return [float(v) for v in done.stdout.split()[-len(tflites):]]


def measure(paths: list[str], inputs: np.ndarray, runs: int, window: float) -> list[float]:
    """Each model's fastest median of `runs` invocations (after runs // 10, at least one,
    untimed warm-up ones), over rounds that time every model once, PAUSE apart, until
    the figures settle (see the module's note) or `window` seconds have passed."""
    from ai_edge_litert.interpreter import Interpreter

    interpreters = []
    for path in paths:
        interpreter = Interpreter(model_path=path, num_threads=1)
        interpreter.allocate_tensors()
        details = interpreter.get_input_details()[0]
        interpreter.set_tensor(details["index"], inputs.astype(details["dtype"]))
        interpreters.append(interpreter)
    best = [float("inf")] * len(paths)
    start, rounds, steady = time.perf_counter(), 0, 0
    while True:
        before = list(best)
        for i, interpreter in enumerate(interpreters):
            for _ in range(max(1, runs // 10)):
                interpreter.invoke()
            times = []
            for _ in range(runs):
                began = time.perf_counter()
                interpreter.invoke()
                times.append(time.perf_counter() - began)
            best[i] = min(best[i], statistics.median(times))
        rounds += 1
        steady = steady + 1 if settled(before, best) else 0
        if rounds >= MIN_ROUNDS and (steady >= SETTLE or time.perf_counter() - start >= window):
            return [b * 1e6 for b in best]
        time.sleep(PAUSE)


def settled(before: list[float], after: list[float]) -> bool:
    """No model's fastest median moved by more than SETTLED in the last round."""
    return all(b - a <= SETTLED * a for b, a in zip(before, after))


if __name__ == "__main__":
    sample_path, n_runs, seconds, *model_paths = sys.argv[1:]
    print(*measure(model_paths, np.load(sample_path), int(n_runs), float(seconds)))
