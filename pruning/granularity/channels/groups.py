"""*Which* output channels must go together: the channel groups of a Functional tf_keras
model, read off its graph (groundwork of structured pruning, issue #13).

A group is a set of producers (Conv2D, Dense) whose output channels meet unchanged:
through layers that act per channel (BatchNorm, activations, pooling, padding,
dropout, a depthwise conv with multiplier 1) and residual joins (Add and its kin tie
both sides together). Removing channel c of a group removes it from every producer,
from every per-channel layer on the way, and from the input axis of every consumer.
A group is frozen (left alone, with the reason) when its channels reach the model's
output, come from its input, or meet a layer this file does not know how to cut.
"""
from __future__ import annotations

from dataclasses import dataclass, field

PER_CHANNEL = ("BatchNormalization", "ReLU", "Activation", "Dropout", "MaxPooling2D",
               "AveragePooling2D", "ZeroPadding2D", "LeakyReLU", "PReLU", "ELU",
               "SpatialDropout2D", "GaussianNoise", "Cropping2D", "UpSampling2D",
               "Resizing", "Rescaling", "GlobalAveragePooling2D", "GlobalMaxPooling2D")
JOINS = ("Add", "Subtract", "Multiply", "Maximum", "Minimum", "Average")
PRODUCERS = ("Conv2D", "Dense")
# Consumers read all channels of their input; cutting one drops a slice of their kernel.
CONSUMERS = ("Conv2D", "Dense", "Flatten")


@dataclass
class Group:
    producers: list[str] = field(default_factory=list)
    per_channel: list[str] = field(default_factory=list)  # carry the channels through
    consumers: list[str] = field(default_factory=list)  # read them (input axis)
    frozen: str = ""  # why these channels must stay, if they must


def channel_groups(model) -> list[Group]:
    """The channel groups of `model`, in the order their first producer appears."""
    parent: dict[int, int] = {}  # union-find over group ids
    groups: list[Group] = []

    def new(**kwargs) -> int:
        groups.append(Group(**kwargs))
        parent[len(groups) - 1] = len(groups) - 1
        return len(groups) - 1

    def find(g: int) -> int:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    def union(a: int, b: int) -> int:
        a, b = find(a), find(b)
        if a != b:
            parent[b] = a
            merged = groups[a]
            other = groups[b]
            merged.producers += other.producers
            merged.per_channel += other.per_channel
            merged.consumers += other.consumers
            merged.frozen = merged.frozen or other.frozen
        return a

    of_tensor: dict[int, int] = {}  # id(KerasTensor) -> group id
    for tensor in model.inputs:
        of_tensor[id(tensor)] = new(frozen="the model's input channels")
    for layer in model.layers:
        kind = type(getattr(layer, "layer", layer)).__name__
        if kind == "InputLayer":
            continue
        inputs = [t for t in _as_list(layer.input) if id(t) in of_tensor]
        sources = [find(of_tensor[id(t)]) for t in inputs]
        if kind in CONSUMERS or (kind == "DepthwiseConv2D" and _multiplier(layer) != 1):
            for g in sources:
                groups[g].consumers.append(layer.name)
        if kind == "DepthwiseConv2D" and _multiplier(layer) == 1 or kind in PER_CHANNEL:
            out = sources[0]
            groups[out].per_channel.append(layer.name)
        elif kind in JOINS:
            out = sources[0]
            for g in sources[1:]:
                out = union(out, g)
            groups[out].per_channel.append(layer.name)
        elif kind in PRODUCERS:
            out = new(producers=[layer.name])
        else:  # unknown, or a consumer that is not a producer: its channels are new
            for g in sources:
                if kind not in CONSUMERS:
                    groups[g].frozen = groups[g].frozen or f"read by {layer.name} ({kind})"
            out = new(frozen=f"made by {layer.name} ({kind})")
        of_tensor[id(layer.output)] = out
    for tensor in model.outputs:
        g = find(of_tensor[id(tensor)])
        groups[g].frozen = groups[g].frozen or "the model's output (one per class)"
    return [groups[g] for g in sorted({find(g) for g in parent}) if groups[g].producers]


def _multiplier(layer) -> int:
    return getattr(getattr(layer, "layer", layer), "depth_multiplier", 1)


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]
