"""How fast bad input is refused: each bad value through `pruning run` as a new process,
timed from start to exit (the one-line error, exit code 2, no run). Target: < 1 s each.

    python bench/reject_speed.py [--data-dir ../data]
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BAD = [
    ["--final-sparsity", "1.5"], ["--final-sparsity", "0.3"], ["--retrain-epochs", "0"],
    ["--begin-step", "5", "--end-step", "5"], ["--dataset", "imagenet"], ["--model", "resnet"],
    ["--batch-size", str(10**20)], ["--seed", str(2**64)], ["--val-fraction", "0"],
    ["--experiment-name", ""], ["--recipe", "nope"], ["--config", "/nonexistent.toml"],
    ["--frequency", "100000"], ["--augment", "rotate"], ["--sparsity-m-by-n", "4,2"],
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="")
    args = parser.parse_args()
    data_dir = str(Path(args.data_dir).resolve()) if args.data_dir else ""
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for bad in BAD:
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "pruning", "run", "--data-dir",
                                   data_dir, *bad], cwd=tmp, capture_output=True,
                                  text=True)
            took = time.perf_counter() - start
            worst = max(worst, took)
            lines = done.stderr.strip().splitlines()
            print(f"{took:5.2f} s  exit {done.returncode}  {' '.join(bad)[:40]:40s}  "
                  f"{lines[-1][:90] if lines else ''}")
    print(f"slowest: {worst:.2f} s over {len(BAD)} bad inputs (target < 1 s)")


if __name__ == "__main__":
    main()
