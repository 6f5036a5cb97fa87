"""*How much* of each layer magnitude pruning removes, for a model-wide sparsity.

Pure functions of the pruned kernels' shapes: {layer: shape}, sparsity -> {layer:
sparsity}. Every distribution removes the same number of weights in all (the
model-wide sparsity of the pruned layers); they differ in where. `sensitivity` also
reads what a `pruning sensitivity` run measured (curves: {layer: [(sparsity, accuracy
drop)]}); `latency` reads its timings too ({layer: [(sparsity, accuracy drop, share of
the dense model's latency saved)]}) and counts the sparsity in latency, not weights.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

from pruning.errors import ConfigError
from pruning.registry import Registry

@dataclass(frozen=True)
class Distribution:
    share: Callable  # (shapes, sparsity[, curves]) -> {layer: sparsity}
    # What of a `pruning sensitivity` run it reads: None, "accuracy" (the drops) or
    # "latency" (the drops and the latency each cut saved: only removed channels save any).
    curves: str | None = None


DISTRIBUTIONS = Registry("sparsity_distribution")


def _register(name: str, curves: str | None = None):
    def add(share):
        DISTRIBUTIONS.register(name)(Distribution(share, curves))
        return share
    return add


@_register("uniform")
def uniform(shapes: dict[str, tuple], sparsity: float) -> dict[str, float]:
    """tfmot's default: every layer loses the same share."""
    return {name: sparsity for name in shapes}


@_register("erk")
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


# Added to every drop, times the sparsity: curves that are flat (no loss over a range)
# still rise, so each tolerance has one sparsity per layer and bisection converges.
_RISE = 1e-9


def _envelope(curve) -> tuple[list[float], list[float]]:
    """(sparsities, drops) from 0, the drop made non-decreasing and never below 0: a
    layer is allowed a sparsity only if every lower one measured stayed within the
    tolerance too."""
    points = sorted((float(s), float(d)) for s, d in curve if s > 0)
    xs, ys, worst = [0.0], [0.0], 0.0
    for s, d in points:
        worst = max(worst, d)
        xs.append(s)
        ys.append(worst + _RISE * s)
    return xs, ys


def _within(xs, ys, tolerance: float) -> float:
    """The highest sparsity whose (interpolated) drop is at most `tolerance`."""
    if tolerance >= ys[-1]:
        return xs[-1]
    for i in range(1, len(xs)):
        if ys[i] > tolerance:
            return xs[i - 1] + (xs[i] - xs[i - 1]) * (tolerance - ys[i - 1]) / (ys[i] - ys[i - 1])
    return xs[-1]


@_register("sensitivity", curves="accuracy")
def sensitivity(shapes: dict[str, tuple], sparsity: float, curves: dict) -> dict[str, float]:
    """One accuracy-drop tolerance for every layer (Distiller's and NNI's sensitivity
    pruning): each layer gets the highest sparsity its curve keeps within it, and the
    tolerance is the one at which the model loses `sparsity` of its weights. Layers
    that hurt least lose most."""
    _check_covered(shapes, curves)
    sizes = {name: math.prod(shape) for name, shape in shapes.items()}
    envelopes = {name: _envelope(curves[name]) for name in shapes}
    total = sum(sizes.values())

    def removed(tolerance: float) -> float:
        return sum(sizes[n] * _within(*envelopes[n], tolerance) for n in shapes) / total

    most = removed(math.inf)
    if sparsity > most + 1e-12:
        raise ConfigError("sensitivity", f"sensitivity: the curves reach at most {most:.4f} "
                          f"model-wide (each layer up to its highest measured sparsity), below "
                          f"the requested {sparsity}; measure higher sparsities")
    low, high = 0.0, max(ys[-1] for _, ys in envelopes.values())
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if removed(middle) < sparsity else (low, middle)
    return {name: _within(*envelopes[name], high) if sparsity > 0 else 0.0 for name in shapes}


@_register("latency", curves="latency")
def latency(shapes: dict[str, tuple], sparsity: float, curves: dict) -> dict[str, float]:
    """Platform-aware allocation (NetAdapt's trade, Yang et al. 2018, from measured single-
    group timings): `sparsity` is the share of the dense model's batch-1 latency to save,
    estimated as the sum of what each group saved when pruned alone. Every group takes
    the measured point (or 0) that minimises drop - price * saved, with one price for all,
    the lowest that saves enough: the accuracy-cheapest way to buy that much latency.

    Groups slow to prune for their speed (a stem, a residual-tied projection) stay whole,
    unlike `sensitivity`, which would trade their weights for accuracy only. A group's
    choice only grows with the price, so each initial is at most its final.
    """
    _check_covered(shapes, curves)
    options = {name: _priced(curves[name]) for name in shapes}

    def choice(price: float) -> dict[str, tuple[float, float, float]]:
        return {n: min(points, key=lambda p: (p[1] - price * p[2], -p[2]))
                for n, points in options.items()}

    def saved(price: float) -> float:
        return sum(p[2] for p in choice(price).values())

    most = sum(points[-1][2] for points in options.values())
    if sparsity > most + 1e-12:
        raise ConfigError("sensitivity", f"sensitivity: pruned one at a time, the groups "
                          f"save at most {most:.4f} of the latency together, below the "
                          f"requested {sparsity}; measure higher sparsities")
    if sparsity <= 0:
        return {name: 0.0 for name in shapes}
    low, high = 0.0, 1.0
    while saved(high) < sparsity - 1e-12:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if saved(middle) < sparsity - 1e-12 else (low, middle)
    return {name: point[0] for name, point in choice(high).items()}


def _check_covered(shapes: dict, curves: dict) -> None:
    missing = sorted(set(shapes) - set(curves))
    if missing:
        raise ConfigError("sensitivity", f"sensitivity: the curves have no layer "
                          f"{', '.join(missing)} (they cover {', '.join(sorted(curves))}); "
                          "measure the same model with the same granularity and pruning_policy")


def _priced(curve) -> list[tuple[float, float, float]]:
    """(sparsity, drop, saved) from 0, drop and saved made non-decreasing (timing noise
    must not make a deeper cut look slower or a deeper cut cheaper in accuracy)."""
    out, worst, most = [(0.0, 0.0, 0.0)], 0.0, 0.0
    for s, d, t in sorted((float(s), float(d), float(t)) for s, d, t in curve if s > 0):
        worst, most = max(worst, d), max(most, t)
        out.append((s, worst, most))
    return out


def layer_sparsities(name: str, shapes: dict[str, tuple], initial_sparsity: float,
                     final_sparsity: float, curves: dict | None = None
                     ) -> dict[str, tuple[float, float]]:
    """{layer: (initial_sparsity, final_sparsity)} of distribution `name`. A layer's
    share of kept weights only shrinks as the model-wide sparsity grows, so each
    layer's initial is at most its final."""
    distribution = DISTRIBUTIONS.get(name)
    distribute = distribution.share
    if distribution.curves:
        distribute = functools.partial(distribute, curves=curves)
    initial, final = distribute(shapes, initial_sparsity), distribute(shapes, final_sparsity)
    return {layer: (initial[layer], final[layer]) for layer in shapes}
