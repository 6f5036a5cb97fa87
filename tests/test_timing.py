"""Latency timed in a child process: a real figure for a real model, and a clear error
when the child cannot time the file."""
import numpy as np
import pytest
import tf_keras as keras

from pruning import export, timing


def test_a_model_is_timed_in_a_child_process():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    tflite = export.to_tflite(model)
    sample = np.ones(8, np.float32)
    assert 0 < timing.latency_us(tflite, sample, runs=5, rounds=2) < 1e6
    assert export.latency_us(tflite, sample, runs=5) > 0


def test_a_file_the_child_cannot_load_fails_with_its_reason():
    with pytest.raises(RuntimeError, match="timing the TFLite model failed: .*"):
        timing.latency_us(b"not a model", np.ones(8, np.float32), runs=5)
