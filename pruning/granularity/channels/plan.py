"""*Which* channels of a model structured pruning may remove, and what removing them
touches: the prunable channel groups, their scores, and every layer's input and output
keep-vectors (channel_masks.py has the per-weight math, rebuild.py the smaller model).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from pruning.granularity.channels import masks as channel_masks
from pruning.sparsity import distributions
from pruning.sparsity import policies, scoring
from pruning.sparsity import curves as sensitivity_curves
from pruning.granularity.channels.groups import JOINS, PER_CHANNEL, channel_groups

WIDTH = {"Conv2D": "filters", "Dense": "units"}  # producers: the config entry they are cut by


@dataclass(frozen=True)
class PrunableGroup:
    key: str  # its first producer: the name per-group metrics use
    producers: tuple[str, ...]
    channels: int
    shape: tuple  # the first producer's kernel shape: what sparsity distributions weigh
    scale: dict = field(default_factory=dict)  # producer -> the BatchNorm right after it


@dataclass(frozen=True)
class Plan:
    groups: tuple[PrunableGroup, ...]
    left: tuple[tuple[str, str], ...]  # (producers, why their channels stay)
    # Residual blocks taken out before channel pruning: (block, validation accuracy lost
    # when it alone was removed).
    removed: tuple[tuple[str, float], ...] = ()

    def describe(self, keep: dict | None = None) -> str:
        """The groups as a Markdown list: what is pruned together (with `keep`, {producer:
        keep-vector}, how many channels stayed), what is left and why."""
        lines = [f"# Channel groups: {len(self.groups)} pruned, {len(self.left)} left alone",
                 ""]
        lines += [f"- pruned together ({g.channels} channels"
                  + (f", {int(keep[g.key].sum())} kept" if keep else "")
                  + f"): {', '.join(g.producers)}" for g in self.groups]
        lines += [f"- left alone: {names} ({why})" for names, why in self.left]
        if self.removed:
            lines += ["", f"# Residual blocks removed: {len(self.removed)}", ""]
            lines += [f"- {name} (validation accuracy {-cost * 100:+.2f} points when it alone "
                      "was removed)" for name, cost in self.removed]
        return "\n".join(lines) + "\n"

    def removed_line(self) -> str:
        """The residual blocks removed, in one status line ("" when none)."""
        if not self.removed:
            return ""
        return (f"{len(self.removed)} residual blocks removed before channel pruning "
                "(validation accuracy when each alone was removed): "
                + ", ".join(f"{name} {-cost * 100:+.2f}" for name, cost in self.removed))

    def targets(self, config) -> dict[str, tuple[float, float]]:
        """{group: (initial, final) share of its channels removed}, config's targets shared
        out by its sparsity distribution over the groups' first kernels."""
        return distributions.layer_sparsities(
            config.sparsity_distribution, {g.key: g.shape for g in self.groups},
            *config.sparsity_targets(), sensitivity_curves.curves_of(config))


def make_plan(model, config, kinds: tuple[str, ...]) -> Plan:
    """The groups whose producers are all of `kinds` (e.g. Dense only: unit pruning) and
    allowed by config's pruning policy; the others are left alone, with the reason."""
    policy = policies.of(config, model)
    groups, left = [], []
    for group in channel_groups(model):
        layers = [model.get_layer(name) for name in group.producers]
        why = group.frozen or _why_not(model, group, layers, kinds, policy)
        if why:
            left.append((", ".join(group.producers), why))
            continue
        scale = {}
        for layer in layers:
            after = [n for n in group.per_channel
                     if type(model.get_layer(n)).__name__ == "BatchNormalization"
                     and model.get_layer(n).input is layer.output]
            if after:
                scale[layer.name] = after[0]
        groups.append(PrunableGroup(layers[0].name, tuple(group.producers),
                                    int(layers[0].kernel.shape[-1]),
                                    tuple(layers[0].kernel.shape), scale))
    return Plan(tuple(groups), tuple(left))


def _why_not(model, group, layers, kinds, policy) -> str:
    kinds_here = {type(layer).__name__ for layer in layers}
    if not kinds_here <= set(kinds):
        return f"{'/'.join(sorted(kinds_here - set(kinds)))} channels are not pruned here"
    if not all(policy.allow_pruning(layer) for layer in layers):
        return "not allowed by the pruning policy"
    if layers[0].kernel.shape[-1] < 2:
        return "a single channel"
    for name in group.producers + group.per_channel:
        activation = getattr(model.get_layer(name), "activation", None)
        if activation is not None and float(activation(tf.zeros(1))[0]) != 0.0:
            # A removed channel must output zero, or its consumers would miss a constant.
            return f"{name}'s activation is not zero at zero"
    return ""


def scores(model, group: PrunableGroup, score: str) -> np.ndarray:
    """The group's channel scores (higher = kept longer) under the named criterion."""
    rank = scoring.SCORES.get(score)
    per_producer = []
    for name in group.producers:
        bn = group.scale.get(name)
        gamma = model.get_layer(bn).gamma.numpy() if bn and model.get_layer(bn).scale \
            else None
        per_producer.append(rank(model.get_layer(name).kernel.numpy(), gamma))
    return channel_masks.group_scores(per_producer)


def choose(model, plan: Plan, sparsities: dict[str, float], score: str, multiple: int = 1
           ) -> dict[str, np.ndarray]:
    """{producer: keep-vector}: each group's lowest-scoring `sparsities[group]` share of
    channels removed, from all of the group's producers alike, a multiple of `multiple`
    kept."""
    keep = {}
    for group in plan.groups:
        kept = channel_masks.keep_channels(scores(model, group, score), sparsities[group.key],
                                           multiple)
        keep.update({name: kept for name in group.producers})
    return keep


# layer class -> (layer, keep-vectors of its inputs, of its output if a producer) -> the
# keep-vector of its output (None: all channels).
def _producer(layer, inputs, own):
    return own


def _depthwise(layer, inputs, own):  # output channel c * multiplier + j reads input c
    return None if inputs[0] is None else np.repeat(inputs[0], layer.depth_multiplier)


def _flatten(layer, inputs, own):  # channels last: flat index i holds channel i % C
    spatial = math.prod(layer.input_shape[1:-1])
    return None if inputs[0] is None else np.tile(inputs[0], spatial)


def _same(layer, inputs, own):
    return inputs[0]


OUTPUT_KEEP = {"Conv2D": _producer, "Dense": _producer, "DepthwiseConv2D": _depthwise,
               "Flatten": _flatten, **{kind: _same for kind in PER_CHANNEL + JOINS}}


def propagate(model, producer_keep: dict[str, np.ndarray]) -> dict[str, tuple]:
    """{layer: (input keep-vector, output keep-vector)} of every layer a removed channel
    reaches (None: all kept). A layer this does not know must see all its channels."""
    of_tensor, out = {}, {}
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        tensors = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        inputs = [of_tensor.get(id(t)) for t in tensors]
        rule = OUTPUT_KEEP.get(kind)
        if rule is None and any(k is not None for k in inputs):
            raise ValueError(f"{layer.name} ({kind}) cannot lose input channels")
        kept = rule(layer, inputs, producer_keep.get(layer.name)) if rule else None
        if kept is not None and kept.all():
            kept = None
        if inputs[0] is not None or kept is not None:
            out[layer.name] = (inputs[0], kept)
        of_tensor[id(layer.output)] = kept
    return out


def weight_cuts(layer, keeps: tuple) -> list[dict[int, np.ndarray]]:
    """Per weight of `layer` (in get_weights order): {axis: keep-vector} to cut."""
    axes = channel_masks.AXES.get(type(layer).__name__, {})
    return [channel_masks.weight_keep(tuple(w.shape), axes.get(_short(w.name), {}), *keeps)
            for w in layer.weights]


def _short(name: str) -> str:
    return name.split("/")[-1].split(":")[0]
