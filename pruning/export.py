"""What a pruned model costs to ship: strip, file sizes, TFLite, LiteRT accuracy and latency."""
from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot


def strip(pruned_model):
    """The plain Keras model with the pruning wrappers removed (masked weights kept)."""
    return tfmot.sparsity.keras.strip_pruning(pruned_model)


def save_h5(model, path: Path) -> int:
    """Save without optimizer state (what one ships); return the file's size.

    HDF5, not the .keras zip: one plain file whose size is the weights' size.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*HDF5 file.*legacy")
        model.save(path, include_optimizer=False, save_format="h5")
    return path.stat().st_size


def gzip_size(data: bytes) -> int:
    """Bytes after gzip -9: how much of a file is redundancy, e.g. pruned zeros."""
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def file_sizes(model, folder: Path, stem: str) -> tuple[Path, int, int]:
    """(path, bytes, gzipped bytes) of `model` saved as `folder/stem.h5`."""
    path = Path(folder) / f"{stem}.h5"
    size = save_h5(model, path)
    return path, size, gzip_size(path.read_bytes())


def to_tflite(model) -> bytes:
    """Float TFLite."""
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def to_tflite_int8(model, representative: np.ndarray, per_channel: bool) -> bytes:
    """int8 weights and activations, calibrated on `representative` samples; float
    inputs and outputs, so it drops in for the float model."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    samples = representative.astype(np.float32)
    converter.representative_dataset = lambda: ([samples[i: i + 1]] for i in range(len(samples)))
    # The converter's only switch for per-tensor weight scales is this private one.
    converter._experimental_disable_per_channel = not per_channel
    return converter.convert()


def to_tflite_sparse(model) -> bytes:
    """Float TFLite that stores pruned kernels as sparse tensors (zeros not stored)."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    return converter.convert()


def to_tflite_quantized(qat_model) -> bytes:
    """int8 TFLite of a quantization-aware-trained model: its learnt ranges, no
    calibration; float inputs and outputs."""
    converter = tf.lite.TFLiteConverter.from_keras_model(qat_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def _interpreter(tflite: bytes, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=tflite, num_threads=threads)


def tflite_accuracy(tflite: bytes, x: np.ndarray, y: np.ndarray, batch_size: int = 500,
                    threads: int = 2) -> float:
    """Top-1 accuracy of a TFLite model run by LiteRT, in batches."""
    interpreter = _interpreter(tflite, threads)
    index_in = interpreter.get_input_details()[0]["index"]
    index_out = interpreter.get_output_details()[0]["index"]
    correct, size = 0, None
    for start in range(0, len(x), batch_size):
        batch = x[start: start + batch_size].astype(np.float32)
        if len(batch) != size:
            size = len(batch)
            interpreter.resize_tensor_input(index_in, [size, *x.shape[1:]])
            interpreter.allocate_tensors()
        interpreter.set_tensor(index_in, batch)
        interpreter.invoke()
        predicted = interpreter.get_tensor(index_out).argmax(-1)
        correct += int(np.sum(predicted == y[start: start + size]))
    return correct / len(x)


def latency_us(tflite: bytes, sample: np.ndarray, runs: int, rounds: int = 5) -> float:
    """Median batch-1 single-thread LiteRT latency in microseconds (the fastest of
    `rounds` medians of `runs`), timed in a fresh process: pruning.timing says why."""
    from . import timing

    return timing.latency_us(tflite, sample, runs, rounds)
