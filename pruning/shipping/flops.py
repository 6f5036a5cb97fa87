"""Multiply-adds a model executes for one input, per layer type (a registry), from shapes.

Counted as the pruning literature counts "FLOPs" (DepGraph, ModelOpt): one per
multiply-add (MAC) of the layers that hold nearly all of them (Dense, Conv2D,
DepthwiseConv2D); activations, BatchNorm, pooling and additions are left out. Weights
that are zero but still stored (unstructured pruning) are executed by dense kernels and
counted: only a model rebuilt smaller counts fewer.
"""
from __future__ import annotations

import math

from pruning.registry import Registry

COUNTERS = Registry("layer type")


def dense_macs(output_shape: tuple, kernel_shape: tuple) -> int:
    """(..., out) outputs, (in, out) kernel: in * out per output position."""
    positions = math.prod(output_shape[1:-1])
    return positions * kernel_shape[0] * kernel_shape[1]


def conv_macs(output_shape: tuple, kernel_shape: tuple) -> int:
    """(N, H, W, C_out) outputs and a (kh, kw, C_in / groups, C_out) kernel, or a
    depthwise (kh, kw, C, multiplier) one: every kernel weight once per output pixel."""
    _, height, width, _ = output_shape
    return height * width * math.prod(kernel_shape)


def model_flops(model) -> int:
    """Multiply-adds of one forward pass of a tf_keras model (wrapped layers included)."""
    import tf_keras as keras

    kinds = {"Dense": keras.layers.Dense, "DepthwiseConv2D": keras.layers.DepthwiseConv2D,
             "Conv2D": keras.layers.Conv2D}  # DepthwiseConv2D subclasses Conv2D: first
    total = 0
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)  # tfmot's and quantization's wrappers
        kind = next((name for name, cls in kinds.items() if isinstance(inner, cls)), None)
        if kind is not None:
            kernel = inner.depthwise_kernel if kind == "DepthwiseConv2D" else inner.kernel
            total += COUNTERS.get(kind)(tuple(layer.output_shape), tuple(kernel.shape))
    return total


COUNTERS.register("Dense")(dense_macs)
COUNTERS.register("Conv2D")(conv_macs)
COUNTERS.register("DepthwiseConv2D")(conv_macs)
