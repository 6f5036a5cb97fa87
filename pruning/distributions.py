"""*How much* of each layer magnitude pruning removes, for a model-wide sparsity.

Pure functions of the pruned kernels' shapes: {layer: shape}, sparsity -> {layer:
sparsity}. Every distribution removes the same number of weights in all (the
model-wide sparsity of the pruned layers); they differ in where.
"""
from __future__ import annotations

import math

from .registry import Registry

DISTRIBUTIONS = Registry("sparsity_distribution")


@DISTRIBUTIONS.register("uniform")
def uniform(shapes: dict[str, tuple], sparsity: float) -> dict[str, float]:
    """tfmot's default: every layer loses the same share."""
    return {name: sparsity for name in shapes}


@DISTRIBUTIONS.register("erk")
def erdos_renyi_kernel(shapes: dict[str, tuple], sparsity: float) -> dict[str, float]:
    """Erdos-Renyi-Kernel (Evci et al., RigL): a layer keeps a share of its weights
    proportional to sum(shape) / prod(shape).

    Small layers (a MobileNet's first 1x1 convs, 16 -> 8 channels) then keep most of
    their weights and the large ones give up more: at a uniform 90% the first projection
    of MobileNetV2 x0.5 would carry every image through 13 weights. A layer whose share
    would pass 1 stays dense and the others share the rest of the budget.
    """
    sizes = {name: math.prod(shape) for name, shape in shapes.items()}
    raw = {name: sum(shape) / sizes[name] for name, shape in shapes.items()}
    kept_total = (1.0 - sparsity) * sum(sizes.values())
    dense: set[str] = set()
    while True:
        sparse = [name for name in shapes if name not in dense]
        budget = kept_total - sum(sizes[name] for name in dense)
        scale = budget / sum(raw[name] * sizes[name] for name in sparse) if sparse else 0.0
        widest = max((raw[name] for name in sparse), default=0.0)
        if scale * widest <= 1.0:
            break
        # Only the layers with the largest share go dense per round: the budget they
        # free lowers the scale, which may bring the next ones back under 1.
        dense.update(name for name in sparse if raw[name] == widest)
    return {name: 0.0 if name in dense else 1.0 - scale * raw[name] for name in shapes}


def layer_sparsities(name: str, shapes: dict[str, tuple], initial_sparsity: float,
                     final_sparsity: float) -> dict[str, tuple[float, float]]:
    """{layer: (initial_sparsity, final_sparsity)} of distribution `name`. A layer's
    share of kept weights only shrinks as the model-wide sparsity grows, so each
    layer's initial is at most its final."""
    distribute = DISTRIBUTIONS.get(name)
    initial, final = distribute(shapes, initial_sparsity), distribute(shapes, final_sparsity)
    return {layer: (initial[layer], final[layer]) for layer in shapes}
