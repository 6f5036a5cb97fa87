"""What a pruned model costs to ship: file sizes, TFLite conversions, int8 accuracy and
batch-1 latency, next to the dense model's.

Every TFLite file takes inputs as the user has them (`Splits.as_given`: e.g. uint8
images without a channel axis) and is measured so: the file measured is the file that
ships."""
from __future__ import annotations

import tempfile
from pathlib import Path

from pruning.shipping import export
from pruning.shipping import flops


def costs(dense, stripped, qat, splits, config, convert: bool, latency: bool = False,
          status=lambda text: None) -> tuple[dict[str, float], bytes | None]:
    """(metrics, int8 TFLite file or None). Without `convert` only the HDF5 sizes (tuning
    trials skip the conversions), and with `latency` the int8 model's latency."""
    with tempfile.TemporaryDirectory() as tmp:
        metrics = _sizes(dense, stripped, Path(tmp))
    metrics.update(dense_flops=float(flops.model_flops(dense)),
                   flops=float(flops.model_flops(stripped)),
                   dense_params=float(dense.count_params()))
    if not convert:
        if latency:
            status("timing the int8 model")
            metrics["int8_latency_us"] = int8_latency_us(stripped, splits, config)
        return metrics, None
    tflite_metrics, tflite_int8 = _tflite(dense, stripped, splits, config, status)
    metrics.update(tflite_metrics)
    metrics.update(_tflite_options(stripped, qat, splits, config))
    metrics["size_reduction"] = metrics["dense_model_bytes"] / metrics["tflite_int8_bytes_gzip"]
    return metrics, tflite_int8


def _sizes(dense, stripped, folder: Path) -> dict[str, float]:
    """Model files as saved (HDF5, no optimizer) and gzipped: pruned zeros compress."""
    _, dense_bytes, dense_gzip = export.file_sizes(dense, folder, "dense")
    _, pruned_bytes, pruned_gzip = export.file_sizes(stripped, folder, "pruned")
    return {"dense_model_bytes": float(dense_bytes), "dense_model_bytes_gzip": float(dense_gzip),
            "model_bytes": float(pruned_bytes), "model_bytes_gzip": float(pruned_gzip)}


def _tflite(dense, stripped, splits, config, status) -> tuple[dict[str, float], bytes]:
    """TFLite sizes, int8 accuracy and batch-1 latency: what the pruning buys when shipped.
    Returns them and the int8 file."""
    status("converting to TFLite: dense and pruned, float and int8")
    dense_tflite, dense_int8 = to_tflite(dense, splits), int8(dense, splits, config)
    tflite, tflite_int8 = to_tflite(stripped, splits), int8(stripped, splits, config)
    status(f"int8 accuracy on {len(splits.x_test)} test samples; batch-1 latency, the four "
           f"models timed together until their figures settle (at most "
           f"{config.latency_window:g} s)")
    dense_us, us, dense_int8_us, int8_us = latencies_us(
        [dense_tflite, tflite, dense_int8, tflite_int8], splits, config)
    metrics = {
        "tflite_bytes": len(tflite), "tflite_bytes_gzip": export.gzip_size(tflite),
        "tflite_int8_bytes": len(tflite_int8),
        "tflite_int8_bytes_gzip": export.gzip_size(tflite_int8),
        "tflite_int8_test_accuracy": tflite_accuracy(tflite_int8, splits),
        "dense_latency_us": dense_us, "latency_us": us,
        "dense_int8_latency_us": dense_int8_us, "int8_latency_us": int8_us,
    }
    return {k: float(v) for k, v in metrics.items()}, tflite_int8


def latencies_us(tflites: list[bytes], splits, config) -> list[float]:
    """Batch-1 latency of each model, timed together as config says."""
    return export.latencies_us(tflites, splits.as_given(splits.x_test[:1])[0],
                               config.latency_runs, config.latency_window)


def int8_latency_us(model, splits, config) -> float:
    """Batch-1 latency of `model` converted to int8 TFLite (calibrated as every run's)."""
    return latencies_us([int8(model, splits, config)], splits, config)[0]


def int8(model, splits, config) -> bytes:
    """`model` as int8 TFLite, calibrated as every run's."""
    return export.to_tflite_int8(model, splits.as_given(splits.x_train[: config.calibration_samples]),
                                 per_channel=config.int8_granularity == "per_channel",
                                 transform=splits.input_transform())


def to_tflite(model, splits) -> bytes:
    """`model` as float TFLite."""
    return export.to_tflite(model, splits.input_transform())


def tflite_accuracy(tflite: bytes, splits) -> float:
    """Test-set accuracy of a TFLite file of these splits' models."""
    return export.tflite_accuracy(tflite, splits.as_given(splits.x_test), splits.y_test)


def _tflite_options(stripped, qat, splits, config) -> dict[str, float]:
    """The optional conversions: sparse storage, and int8 after quantization-aware
    training. Each with its size, accuracy and latency, like the standard ones."""
    conversions = {}
    if config.tflite_sparse:
        conversions["tflite_sparse"] = export.to_tflite_sparse(stripped,
                                                               splits.input_transform())
    if qat is not None:
        conversions["tflite_qat_int8"] = export.to_tflite_quantized(qat,
                                                                    splits.input_transform())
    metrics = {}
    times = latencies_us(list(conversions.values()), splits, config) if conversions else []
    for (name, tflite), latency in zip(conversions.items(), times):
        metrics.update({
            f"{name}_bytes": len(tflite), f"{name}_bytes_gzip": export.gzip_size(tflite),
            f"{name}_test_accuracy": tflite_accuracy(tflite, splits),
            f"{name}_latency_us": latency})
    return {k: float(v) for k, v in metrics.items()}
