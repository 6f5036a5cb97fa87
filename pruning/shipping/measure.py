"""What a pruned model costs to ship: file sizes, TFLite conversions, int8 accuracy and
batch-1 latency, next to the dense model's.

Every TFLite file takes inputs as the user has them (`Splits.as_given`: e.g. uint8
images without a channel axis) and is measured so: the file measured is the file that
ships.

The dense model's side (its sizes and TFLite files) is known as soon as the dense model
is: `dense_side_meanwhile` makes it on a thread while the pruned model trains, so the
end of a run only converts and measures the pruned model."""
from __future__ import annotations

import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pruning.shipping import export
from pruning.shipping import flops


@dataclass(frozen=True)
class DenseSide:
    """The dense model's share of a comparison: sizes, multiply-adds and parameters as
    metrics, and its float and int8 TFLite files (None without conversions)."""
    metrics: dict[str, float]
    tflite: bytes | None = None
    tflite_int8: bytes | None = None


def dense_side(dense, splits, config, convert: bool) -> DenseSide:
    """The dense model's HDF5 sizes, multiply-adds and parameters; with `convert` also
    its float and int8 TFLite files (calibrated as every run's)."""
    with tempfile.TemporaryDirectory() as tmp:
        _, size, gzipped = export.file_sizes(dense, Path(tmp), "dense")
    metrics = {"dense_model_bytes": float(size), "dense_model_bytes_gzip": float(gzipped),
               "dense_flops": float(flops.model_flops(dense)),
               "dense_params": float(dense.count_params())}
    if not convert:
        return DenseSide(metrics)
    return DenseSide(metrics, to_tflite(dense, splits), int8(dense, splits, config))


def dense_side_meanwhile(dense, splits, config, convert: bool) -> Future:
    """dense_side on a thread of its own. Why: converting and gzipping the dense model
    was a good part of every run's end (docs/benchmarks.md); training leaves part of a
    core idle (an MLP's epoch runs on ~1.4 of 2), and the converter and zlib release the
    GIL."""
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pruning-dense-side")
    future = worker.submit(dense_side, dense, splits, config, convert)
    worker.shutdown(wait=False)  # the thread ends with its one task
    return future


def costs(dense: DenseSide, stripped, qat, splits, config, convert: bool,
          latency: bool = False, status=lambda text: None) -> tuple[dict[str, float], bytes | None]:
    """(metrics, int8 TFLite file or None). Without `convert` only the HDF5 sizes (tuning
    trials skip the conversions), and with `latency` the int8 model's latency. `dense`
    must come from dense_side with the same `convert`.

    Why a thread for the sizes: gzip -9 of a 1 MB file full of zeros takes ~0.5 s, and
    zlib releases the GIL, so it runs beside the conversions; the latency is timed after
    both, with nothing else of this process running."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pruning-sizes") as sizes:
        h5 = sizes.submit(_h5_sizes, stripped)
        tflite = _tflite(dense, stripped, splits, config, status, sizes) if convert else None
        metrics = {**dense.metrics, **h5.result(), "flops": float(flops.model_flops(stripped))}
    if not convert:
        if latency:
            status("timing the int8 model")
            metrics["int8_latency_us"] = int8_latency_us(stripped, splits, config)
        return metrics, None
    tflite_metrics, tflite_int8 = tflite
    metrics.update(tflite_metrics)
    metrics.update(_tflite_options(stripped, qat, splits, config))
    metrics["size_reduction"] = metrics["dense_model_bytes"] / metrics["tflite_int8_bytes_gzip"]
    return metrics, tflite_int8


def _h5_sizes(model) -> dict[str, float]:
    """The model file as saved (HDF5, no optimizer) and gzipped: pruned zeros compress."""
    with tempfile.TemporaryDirectory() as tmp:
        _, size, gzipped = export.file_sizes(model, Path(tmp), "pruned")
    return {"model_bytes": float(size), "model_bytes_gzip": float(gzipped)}


def _tflite(dense: DenseSide, stripped, splits, config, status,
            sizes: ThreadPoolExecutor) -> tuple[dict[str, float], bytes]:
    """TFLite sizes, int8 accuracy and batch-1 latency: what the pruning buys when shipped.
    Returns them and the int8 file; the gzip sizes are computed on `sizes`."""
    status(f"converting the pruned model to TFLite, float and int8; int8 accuracy on "
           f"{len(splits.x_test)} test samples")
    tflite, tflite_int8 = to_tflite(stripped, splits), int8(stripped, splits, config)
    gzipped = [sizes.submit(export.gzip_size, data) for data in (tflite, tflite_int8)]
    accuracy = tflite_accuracy(tflite_int8, splits)
    metrics = {"tflite_bytes": len(tflite), "tflite_bytes_gzip": gzipped[0].result(),
               "tflite_int8_bytes": len(tflite_int8),
               "tflite_int8_bytes_gzip": gzipped[1].result(),
               "tflite_int8_test_accuracy": accuracy}
    status(f"batch-1 latency: the four models timed together until their figures settle "
           f"(at most {config.latency_window:g} s)")
    dense_us, us, dense_int8_us, int8_us = latencies_us(
        [dense.tflite, tflite, dense.tflite_int8, tflite_int8], splits, config)
    metrics.update(dense_latency_us=dense_us, latency_us=us, dense_int8_latency_us=dense_int8_us,
                   int8_latency_us=int8_us)
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
