"""The dense model's side of a comparison, made on a thread while the pruned model
trains, is exactly the one made in place; the end of a run then measures the pruned
model against it."""
from pruning.config import ExperimentConfig
from pruning.data import splits as data
from pruning.models import builtin as models
from pruning.shipping import measure

CONFIG = ExperimentConfig(dataset="synthetic", calibration_samples=16, latency_runs=5,
                          latency_window=0)


def _model(splits, seed: int):
    return models.build("mlp", splits.input_shape, splits.num_classes, CONFIG.replace(seed=seed))


def test_the_dense_side_made_meanwhile_is_the_one_made_in_place():
    splits = data.load("synthetic", "", 0.1, 0)
    dense = _model(splits, 0)
    future = measure.dense_side_meanwhile(dense, splits, CONFIG, True)
    in_place = measure.dense_side(dense, splits, CONFIG, True)
    made = future.result(timeout=300)
    assert made.metrics == in_place.metrics
    assert made.tflite == in_place.tflite and made.tflite_int8 == in_place.tflite_int8
    # trials skip the conversions: sizes only
    assert measure.dense_side(dense, splits, CONFIG, False).tflite is None


def test_costs_put_the_pruned_model_beside_the_dense_side():
    splits = data.load("synthetic", "", 0.1, 0)
    dense, pruned = _model(splits, 0), _model(splits, 1)
    side = measure.dense_side(dense, splits, CONFIG, True)
    metrics, int8 = measure.costs(side, pruned, None, splits, CONFIG, convert=True)
    assert metrics["dense_model_bytes"] == side.metrics["dense_model_bytes"]
    assert metrics["model_bytes"] > 0 and metrics["tflite_int8_bytes"] == len(int8)
    assert 0 < metrics["tflite_int8_bytes_gzip"] < len(int8)
    assert metrics["size_reduction"] == metrics["dense_model_bytes"] / metrics["tflite_int8_bytes_gzip"]
    assert metrics["int8_latency_us"] > 0 and metrics["dense_int8_latency_us"] > 0
    sizes_only, none = measure.costs(measure.dense_side(dense, splits, CONFIG, False), pruned,
                                     None, splits, CONFIG, convert=False)
    assert none is None and "tflite_int8_bytes" not in sizes_only
    assert sizes_only["model_bytes_gzip"] == metrics["model_bytes_gzip"]
