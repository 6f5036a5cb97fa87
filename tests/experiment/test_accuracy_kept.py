"""Pruning must not collapse accuracy: on a learnable task (the synthetic set: 10 classes
of 20x10 patterns under heavy noise) the pruned model stays within a stated margin of
its own dense model. The other tests check that numbers arrive; this one checks they
are good."""
import pytest

from pruning.config import ExperimentConfig
from pruning.experiment import pipeline

MARGIN = 0.03  # accuracy points (as a share) the pruned model may lose against its dense one
BASE = dict(dataset="synthetic", model="mlp", pretrain_epochs=4, retrain_epochs=4,
            batch_size=32, frequency=2, latency_runs=5, latency_window=0,
            calibration_samples=64)


@pytest.mark.parametrize("granularity, final_sparsity", [("weight", 0.9), ("unit", 0.5)])
def test_the_pruned_model_keeps_its_dense_accuracy(granularity, final_sparsity):
    config = ExperimentConfig(**BASE, granularity=granularity, final_sparsity=final_sparsity)
    m = pipeline.run(config, tracking=False).metrics
    assert m["dense_test_accuracy"] >= 0.9  # the task was learned: a margin means something
    assert m["test_accuracy"] >= m["dense_test_accuracy"] - MARGIN
    assert m["tflite_int8_test_accuracy"] >= m["dense_test_accuracy"] - MARGIN
    removed = m["sparsity"] if granularity == "weight" else m["channel_sparsity"]
    assert removed == pytest.approx(final_sparsity, abs=0.02)  # at the sparsity asked for
