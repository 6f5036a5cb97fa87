"""Batch-1 LiteRT latency, timed in a fresh Python process that loads LiteRT and numpy
only.

Timed inside the process that had just trained, the same int8 files read 1.3-1.6x
slower than in a quiet process (run 256b29d2 logged 191.6 us for the dense
MobileNetV2 and 108.4 us for the pruned one; a new process timed the very same files at
147 and 70 us), and the speed-up came out 1.8x instead of 2.1x. A child process
carries none of the trainer's threads and memory, so every figure comes from one.

Even a quiet process on this VM has slow spells of a second or more (the pruned model:
69 us, then 103-107 us for three measurements in a row), so a figure is the fastest of
several medians spread over ~2 s.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def latency_us(tflite: bytes, sample: np.ndarray, runs: int, rounds: int = 5) -> float:
    """Batch-1 single-thread latency in microseconds of `tflite` on `sample` (one input,
    no batch axis), measured by `measure` in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        model, inputs = Path(tmp) / "model.tflite", Path(tmp) / "sample.npy"
        model.write_bytes(tflite)
        np.save(inputs, sample[None].astype(np.float32))
        done = subprocess.run([sys.executable, "-m", "pruning.timing", str(model),
                               str(inputs), str(runs), str(rounds)],
                              capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"timing the TFLite model failed: {done.stderr.strip()[-500:]}")
    return float(done.stdout.split()[-1])


def measure(tflite_path: str, inputs: np.ndarray, runs: int, rounds: int) -> float:
    """The fastest of `rounds` medians of `runs` invocations, each after runs // 10 (at
    least one) untimed warm-up ones, with pauses between rounds: noise only ever adds
    time. Back-to-back medians read 164-191 us instead of 147 about one time in six."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=tflite_path, num_threads=1)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], inputs)
    medians = []
    for round_ in range(rounds):
        if round_:
            time.sleep(0.4)  # a slow spell must not cover every round
        for _ in range(max(1, runs // 10)):
            interpreter.invoke()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            interpreter.invoke()
            times.append(time.perf_counter() - start)
        medians.append(statistics.median(times))
    return min(medians) * 1e6


if __name__ == "__main__":
    path, sample_path, n_runs, n_rounds = sys.argv[1:5]
    print(measure(path, np.load(sample_path), int(n_runs), int(n_rounds)))
