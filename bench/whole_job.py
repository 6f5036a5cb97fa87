"""The whole main job against a plain tfmot script doing the same training
(bench/plain_tfmot.py), in turn, each a fresh process (the main job in a fresh store):
wall and CPU time of the process, and their ratios.

    python bench/whole_job.py --data-dir ../data --pairs 5

The main job is `python -m pruning run --dataset mnist --model mlp --recipe none
--pretrain-epochs 5 --retrain-epochs 5`: everything it does by default (dense cache run,
per-epoch metrics and masks, TFLite float and int8 for both models, int8 accuracy,
latency, plots, the logged model). Prints each pair and the medians.
"""
import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent


def timed(argv: list[str], cwd: str) -> tuple[float, float]:
    """(wall, CPU seconds: user + system of the child) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="../data")
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    data = str(Path(args.data_dir).absolute())
    plain = [sys.executable, str((HERE / "plain_tfmot.py").absolute()), "--data-dir", data]
    walls, cpus = [], []
    for i in range(args.pairs):
        with tempfile.TemporaryDirectory() as tmp:
            job = [sys.executable, "-m", "pruning", "run", "--dataset", "mnist", "--model",
                   "mlp", "--recipe", "none", "--pretrain-epochs", "5", "--retrain-epochs",
                   "5", "--data-dir", data, "--tracking-uri", f"sqlite:///{tmp}/mlflow.db"]
            order = [("plain", plain), ("job", job)] if i % 2 else [("job", job),
                                                                     ("plain", plain)]
            got = {name: timed(argv, tmp) for name, argv in order}
        (jw, jc), (pw, pc) = got["job"], got["plain"]
        walls.append(jw / pw)
        cpus.append(jc / pc)
        print(f"pair {i + 1}: main job {jw:.1f} s wall {jc:.1f} s CPU; plain tfmot "
              f"{pw:.1f} s wall {pc:.1f} s CPU; {walls[-1]:.2f}x wall {cpus[-1]:.2f}x CPU",
              flush=True)
    print(f"median of {args.pairs} pairs: wall {statistics.median(walls):.2f}x, "
          f"CPU {statistics.median(cpus):.2f}x")


if __name__ == "__main__":
    main()
