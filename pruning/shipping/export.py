"""What a pruned model costs to ship: strip, file sizes, TFLite, LiteRT accuracy and latency."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot

from pruning.model_files import save_h5


def strip(pruned_model):
    """The plain Keras model with the pruning wrappers removed (masked weights kept)."""
    return tfmot.sparsity.keras.strip_pruning(pruned_model)


def gzip_size(data: bytes) -> int:
    """Bytes after gzip -9: how much of a file is redundancy, e.g. pruned zeros."""
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def file_sizes(model, folder: Path, stem: str) -> tuple[Path, int, int]:
    """(path, bytes, gzipped bytes) of `model` saved as `folder/stem.h5`."""
    path = Path(folder) / f"{stem}.h5"
    size = save_h5(model, path)
    return path, size, gzip_size(path.read_bytes())


def converter(model, transform: dict | None = None) -> tf.lite.TFLiteConverter:
    """A TFLite converter of `model` through one traced function of it.

    `from_keras_model` first saves the whole Keras model as a SavedModel, tracing every
    layer's calls for Keras' own serialization: 17 of the 22 s an int8 MobileNetV2
    conversion took here. One tf.function over the model converts to the same
    operations (outputs equal to the bit, the same signature and names) in 4-6 s, and
    `sensitivity --latency` converts one model per probe.

    `transform` (`Splits.input_transform()`): the file takes inputs as the user has them
    (e.g. uint8 (N, 28, 28) images) and casts, scales and reshapes them itself, as the
    logged pyfunc does.
    """
    adapt = transform is not None and len(model.inputs) == 1 and (
        transform["scale"] != 1 or transform["channel_axis"] or transform["dtype"] != "float32")
    specs = [tf.TensorSpec([None, *x.shape[1:]], x.dtype, name=x.name.split(":")[0])
             for x in model.inputs]
    if adapt:
        shape = specs[0].shape[:-1] if transform["channel_axis"] else specs[0].shape
        specs = [tf.TensorSpec(shape, transform["dtype"], name=specs[0].name)]

    def serve(*inputs):
        if adapt:
            inputs = [as_model_takes(inputs[0], transform)]
        outputs = model(inputs[0] if len(inputs) == 1 else list(inputs), training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return dict(zip(model.output_names, outputs))

    traced = tf.function(serve, input_signature=specs)
    holder = tf.Module()  # what the converter saves: the variables, not the Keras layers
    holder.variables_, holder.serve = list(model.variables), traced
    return tf.lite.TFLiteConverter.from_concrete_functions([traced.get_concrete_function()],
                                                           holder)


def as_model_takes(x, transform: dict):
    """Inputs as given -> what the model trained on: float32, scaled, a channel axis."""
    x = tf.cast(x, tf.float32)
    x = x * transform["scale"] if transform["scale"] != 1 else x
    return x[..., None] if transform["channel_axis"] else x


def to_tflite(model, transform: dict | None = None) -> bytes:
    """Float TFLite (see `converter` for `transform`)."""
    return converter(model, transform).convert()


def to_tflite_int8(model, representative: np.ndarray, per_channel: bool,
                   transform: dict | None = None) -> bytes:
    """int8 weights and activations, calibrated on `representative` samples (inputs as
    the file takes them); inputs and outputs as the float model's, so it drops in for it."""
    int8 = converter(model, transform)
    int8.optimizations = [tf.lite.Optimize.DEFAULT]
    samples = np.asarray(representative)
    int8.representative_dataset = lambda: ([samples[i: i + 1]] for i in range(len(samples)))
    # The converter's only switch for per-tensor weight scales is this private one.
    int8._experimental_disable_per_channel = not per_channel
    return int8.convert()


def to_tflite_sparse(model, transform: dict | None = None) -> bytes:
    """Float TFLite that stores pruned kernels as sparse tensors (zeros not stored)."""
    sparse = converter(model, transform)
    sparse.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    return sparse.convert()


def to_tflite_quantized(qat_model, transform: dict | None = None) -> bytes:
    """int8 TFLite of a quantization-aware-trained model: its learnt ranges, no
    calibration; inputs and outputs as the float model's."""
    quantized = converter(qat_model, transform)
    quantized.optimizations = [tf.lite.Optimize.DEFAULT]
    return quantized.convert()


def _interpreter(tflite: bytes, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=tflite, num_threads=threads)


def tflite_accuracy(tflite: bytes, x: np.ndarray, y: np.ndarray, batch_size: int = 500,
                    threads: int = 2) -> float:
    """Top-1 accuracy of a TFLite model run by LiteRT, in batches."""
    interpreter = _interpreter(tflite, threads)
    index_in = interpreter.get_input_details()[0]["index"]
    dtype = interpreter.get_input_details()[0]["dtype"]
    index_out = interpreter.get_output_details()[0]["index"]
    correct, size = 0, None
    for start in range(0, len(x), batch_size):
        batch = x[start: start + batch_size].astype(dtype)
        if len(batch) != size:
            size = len(batch)
            interpreter.resize_tensor_input(index_in, [size, *x.shape[1:]])
            interpreter.allocate_tensors()
        interpreter.set_tensor(index_in, batch)
        interpreter.invoke()
        predicted = interpreter.get_tensor(index_out).argmax(-1)
        correct += int(np.sum(predicted == y[start: start + size]))
    return correct / len(x)


def latencies_us(tflites: list[bytes], sample: np.ndarray, runs: int,
                 window: float) -> list[float]:
    """Median batch-1 single-thread LiteRT latency in microseconds of each model, the
    fastest of rounds spread over `window` seconds, all timed together in a fresh process
    (pruning.shipping.timing says why)."""
    from pruning.shipping import timing

    return timing.latencies_us(tflites, sample, runs, window)


def latency_us(tflite: bytes, sample: np.ndarray, runs: int, window: float) -> float:
    """latencies_us of one model."""
    return latencies_us([tflite], sample, runs, window)[0]
