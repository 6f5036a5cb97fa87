"""The least CPU any MLflow-tracked run pays, set beside the plain tfmot script's CPU:
what `bench/whole_job.py`'s CPU ratio cannot go below while the job logs to MLflow.

    python bench/mlflow_floor.py --data-dir ../data --repeats 3

Each repeat is a fresh process that imports MLflow, opens a new local sqlite store the
way the main job does (a copy of the empty store, `pruning.tracking.new_store`), creates
one run, logs one metric and ends it; a bare `python -c pass` is subtracted. With
`--data-dir`, the plain script (bench/plain_tfmot.py) runs as many times and the floor is
printed as a share of its median CPU.
"""
import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from whole_job import HERE, timed

TRACKED = """
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import mlflow
from pruning.tracking import new_store
path = os.path.join(sys.argv[1], "mlflow.db")
new_store.create(new_store.sqlite_path("sqlite:///" + path))
client = mlflow.MlflowClient("sqlite:///" + path)
run = client.create_run(client.create_experiment("floor"))
client.log_metric(run.info.run_id, "one", 1.0)
client.set_terminated(run.info.run_id)
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    floors = []
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            _, tracked = timed([sys.executable, "-c", TRACKED, tmp], tmp)
            _, bare = timed([sys.executable, "-c", "pass"], tmp)
        floors.append(tracked - bare)
        print(f"repeat {i + 1}: import MLflow, new store, one run, one metric: "
              f"{floors[-1]:.2f} CPU s", flush=True)
    floor = statistics.median(floors)
    print(f"median floor: {floor:.2f} CPU s")
    if args.data_dir:
        data = str(Path(args.data_dir).absolute())
        plain = [sys.executable, str((HERE / "plain_tfmot.py").absolute()), "--data-dir", data]
        cpus = []
        for i in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                cpus.append(timed(plain, tmp)[1])
            print(f"plain tfmot {i + 1}: {cpus[-1]:.1f} CPU s", flush=True)
        base = statistics.median(cpus)
        print(f"floor / plain tfmot median ({base:.1f} CPU s): {floor / base:.1%}: a tracked "
              f"job's CPU ratio is at least {1 + floor / base:.2f}x before it does anything "
              "else")


if __name__ == "__main__":
    main()
