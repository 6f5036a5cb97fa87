"""Logging off the critical path loses nothing: a run killed by SIGTERM right after its
last epoch keeps every epoch's metrics and masks, and a failed upload is not swallowed."""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from mlflow.tracking import MlflowClient

from pruning.tracking import background


def test_a_failed_upload_surfaces_at_the_flush_after_the_others_landed():
    landed = []

    def slow():
        time.sleep(0.2)
        landed.append("slow")

    def broken():
        raise OSError("disk full")

    background.submit(broken)
    background.submit(slow)
    with pytest.raises(OSError, match="disk full"):
        background.flush()
    assert landed == ["slow"]
    background.flush()  # nothing left: a second flush is quiet


def test_sigterm_right_after_the_last_epoch_keeps_every_epoch(store, tmp_path):
    argv = [sys.executable, "-m", "pruning", "run", "--dataset", "synthetic",
            "--pretrain-epochs", "2", "--retrain-epochs", "3", "--frequency", "2",
            "--batch-size", "64", "--latency-window", "0", "--experiment-name", "term"]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    killer = threading.Timer(300, child.kill)  # never hang the suite
    killer.start()
    try:
        for line in child.stdout:
            # printed after the epoch was queued; the signal lands wherever the child is
            # then (in a tf.data iterator's __del__ it would be dropped: stop_if_asked)
            if line.startswith("[retrain 3/3]"):
                child.send_signal(signal.SIGTERM)
                break
        rest = child.stdout.read()
        child.wait()
    finally:
        killer.cancel()
    client = MlflowClient()
    (run,) = client.search_runs([client.get_experiment_by_name("term").experiment_id],
                                "tags.`pruning.role` = 'experiment'")
    assert run.info.status == "KILLED", rest[-2000:]
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "loss")]
    assert sorted(steps) == [0, 1, 2, 3, 4]  # 2 dense epochs (copied) + 3 pruning epochs
    masks = {f.path for f in client.list_artifacts(run.info.run_id, "masks")}
    assert {"masks/epoch_0002.npz", "masks/epoch_0003.npz", "masks/epoch_0004.npz",
            "masks/final.npz"} <= masks


def test_a_flush_does_not_wait_out_mlflows_queue_timeout(store):
    # Unbuffered, MLflow's queue thread noticed a flush only when its 1 s `get` timed
    # out: each flush waited 0-1 s. Buffered (set by this package), it returns at once.
    from mlflow.environment_variables import MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS

    assert MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS.get() == background.BUFFER_SECONDS
    import mlflow

    with mlflow.start_run() as run:
        began = time.perf_counter()
        for step in range(8):
            MlflowClient().log_batch(run.info.run_id, metrics=[
                mlflow.entities.Metric("loss", 1.0 / (step + 1), 0, step)], synchronous=False)
            background.flush()
        elapsed = time.perf_counter() - began
    steps = [m.step for m in MlflowClient().get_metric_history(run.info.run_id, "loss")]
    assert sorted(steps) == list(range(8))
    assert elapsed < 2.0, f"8 flushes took {elapsed:.1f} s (unbuffered: ~4 s)"


def test_a_users_own_buffering_wins():
    code = ("import os; os.environ['MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS'] = '5'\n"
            "from pruning.tracking import background\n"
            "print(os.environ['MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "5", out.stderr[-1000:]
