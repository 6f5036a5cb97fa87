"""*Which* layers magnitude pruning wraps: tfmot pruning policies, by name.

A policy answers `allow_pruning(layer)` for tfmot's `prune_low_magnitude` and for
everything that later asks which kernels were pruned (sparsity metrics, sweeps).
"""
from __future__ import annotations

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from pruning.registry import Registry
from pruning.sparsity import masks as mask_math

POLICIES = Registry("pruning_policy")


class PrunableLayers(tfmot.sparsity.keras.PruningPolicy):
    """Every Dense and Conv2D kernel; the output layer(s) (`outputs`, by name) only if asked.

    tfmot's registry lists no prunable weights for DepthwiseConv2D (nor for any other
    layer type of our models), so these are all that magnitude pruning can reach.
    """

    def __init__(self, include_output: bool, outputs: set[str]):
        self.include_output, self.outputs = include_output, outputs

    def allow_pruning(self, layer) -> bool:
        return (isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D))
                and (self.include_output or layer.name not in self.outputs))

    def ensure_model_supports_pruning(self, model) -> None:
        """Any functional model: layers this policy does not allow stay dense."""


@POLICIES.register("all")
def _all(config, outputs):
    return PrunableLayers(config.prune_output, outputs)


class PointwiseLayers(PrunableLayers):
    """Dense and 1x1 Conv2D kernels only: in MobileNets these hold nearly all weights,
    while the stem conv and the small early layers that would also lose final_sparsity
    of their few weights under `all` stay dense."""

    def allow_pruning(self, layer) -> bool:
        return super().allow_pruning(layer) and (
            not isinstance(layer, keras.layers.Conv2D) or layer.kernel_size == (1, 1))


@POLICIES.register("pointwise")
def _pointwise(config, outputs):
    return PointwiseLayers(config.prune_output, outputs)


@POLICIES.register("xnnpack")
def _xnnpack(config, outputs):
    # Only 1x1 convs, and tfmot checks the whole graph (3x3 stride-2 stem after a
    # ZeroPadding2D, supported ops up to a GlobalAveragePooling2D), so that XNNPACK's
    # sparse inference can run the result: see models.mobilenetv2_xnnpack.
    return tfmot.sparsity.keras.PruneForLatencyOnXNNPack()


def of(config, model):
    """The policy `config.pruning_policy` names, for `model` (whose output layers it
    leaves dense unless config.prune_output)."""
    outputs = {getattr(layer, "layer", layer).name for layer in model.layers
               if layer.name in model.output_names}
    return POLICIES.get(config.pruning_policy)(config, outputs)


def prunable_kernels(model, config) -> dict[str, np.ndarray]:
    """{layer name: kernel} of the layers config's pruning policy applies to, wrapped or
    not."""
    policy = of(config, model)
    out = {}
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if policy.allow_pruning(inner):
            out[inner.name] = _kernel(layer, inner)
    return out


def _kernel(layer, inner) -> np.ndarray:
    if hasattr(inner.kernel, "numpy"):
        return inner.kernel.numpy()
    # A quantize wrapper swaps the kernel attribute for its fake-quantized tensor; the
    # trained variable is still among the wrapper's weights.
    return next(w for w in layer.weights if w.name.endswith("/kernel:0")).numpy()


def sparsity_metrics(kernels: dict[str, np.ndarray]) -> dict[str, float]:
    metrics = {"sparsity": mask_math.sparsity(kernels.values())}
    metrics.update({f"sparsity/{name}": mask_math.sparsity([k]) for name, k in kernels.items()})
    return metrics
