"""Latency timed in a child process, several models together in rounds that stop once the
figures settle (a window of seconds at most): real figures for real models, the stopping
rule exactly, and a clear error when the child cannot time a file."""
import time

import numpy as np
import pytest
import tf_keras as keras

from pruning.shipping import export
from pruning.shipping import timing

pytestmark = pytest.mark.fast  # pure math, no training: the developer's tier


def _tflite(width: int) -> bytes:
    return export.to_tflite(keras.Sequential([keras.Input((256,)), keras.layers.Dense(width),
                                              keras.layers.Dense(width)]))


def test_models_are_timed_together_in_a_child_process_until_the_figures_settle():
    sample = np.ones(256, np.float32)
    began = time.perf_counter()
    small, large = timing.latencies_us([_tflite(8), _tflite(1024)], sample, runs=20,
                                       window=30.0)
    assert time.perf_counter() - began < 15  # settled long before the 30 s cap
    assert 0 < small < large < 1e6  # each model's own figure, in order
    assert export.latency_us(_tflite(8), sample, runs=5, window=0) > 0


def test_the_rounds_stop_at_the_window_or_after_the_minimum_rounds(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(_tflite(8))
    began = time.perf_counter()
    assert timing.measure([str(path)], np.ones((1, 256), np.float32), runs=5, window=0)[0] > 0
    took = time.perf_counter() - began
    assert timing.PAUSE * (timing.MIN_ROUNDS - 1) <= took < 5  # MIN_ROUNDS, PAUSE apart


def test_settled_means_no_model_got_faster_by_more_than_the_tolerance():
    assert timing.settled([100.0, 50.0], [99.5, 50.0])  # 0.5% faster: settled
    assert not timing.settled([100.0, 50.0], [100.0, 49.0])  # 2% faster: not yet
    assert not timing.settled([float("inf")], [10.0])  # the first round never settles


def test_a_file_the_child_cannot_load_fails_with_its_reason():
    with pytest.raises(RuntimeError, match="timing the TFLite model failed: .*"):
        timing.latencies_us([b"not a model"], np.ones(8, np.float32), runs=5, window=0)
