"""Depth pruning: *which* residual blocks a model has, which cost least, and the model
without them (issue #13).

A residual block is an Add of a skip x and a branch f(x): a chain of single-input
layers that starts at x and feeds nothing but the next layer of the chain. Without the
block the Add's output is x itself: the same model as one whose branch outputs zero.

Why: MobileNetV2's batch-1 int8 latency here is ~35 us fixed (a cost per operator)
plus ~14 us per million multiply-adds (the recipe's CIFAR-10 model: 145 us dense at
7.84 M, 71 us channel-pruned at 2.59 M). Thinning channels lowers only the second term.
Without its 10 residual blocks the full-width model ran 1.7x faster and kept 59% of its
parameters (bench/channel_widths.py --set residual_blocks_removed=10 --shares 0); the
channel-pruned one kept 18% for 2x.
"""
from __future__ import annotations

from dataclasses import dataclass

import tf_keras as keras

JOINS = ("Add",)


@dataclass(frozen=True)
class Block:
    join: str  # the Add layer
    skip: str  # the layer whose output x is (the Add's other input)
    branch: tuple[str, ...]  # f's layers, from x to the Add

    @property
    def name(self) -> str:
        """The join without its layer suffix: block_15 for block_15_add."""
        return self.join.removesuffix("_add")


def blocks(model) -> list[Block]:
    """The residual blocks of a Functional `model`, in graph order."""
    found = []
    for layer in model.layers:
        if type(layer).__name__ not in JOINS or len(layer._inbound_nodes) != 1:
            continue
        inputs = layer.input if isinstance(layer.input, list) else [layer.input]
        if len(inputs) != 2:
            continue
        for side in (0, 1):
            branch = _chain(inputs[side], inputs[1 - side])
            if branch:
                found.append(Block(layer.name, _producer(inputs[1 - side]).name,
                                   tuple(reversed(branch))))
                break
    return found


def _producer(tensor):
    return tensor._keras_history.layer


def _chain(tensor, skip, longest: int = 64) -> list[str]:
    """The layers from `skip` to `tensor`, last first, when they form a branch (single
    input, single consumer each); [] otherwise."""
    names = []
    while len(names) < longest:
        layer = _producer(tensor)
        if len(layer._inbound_nodes) != 1 or len(layer._outbound_nodes) != 1:
            return []
        if type(layer).__name__ == "InputLayer" or isinstance(layer.input, list):
            return []
        names.append(layer.name)
        if layer.input is skip:
            return names
        tensor = layer.input
    return []


def without(model, joins) -> keras.Model:
    """A new model (weights copied) in which the blocks joined at `joins` are gone: each
    Add passes its skip through."""
    chosen = [b for b in blocks(model) if b.join in set(joins)]
    gone = {name for b in chosen for name in b.branch}
    skips = {b.join: b.skip for b in chosen}
    inputs = [keras.Input(t.shape[1:], dtype=t.dtype, name=_producer(t).name)
              for t in model.inputs]
    out = {_producer(t).name: new for t, new in zip(model.inputs, inputs)}
    for layer in model.layers:
        if layer.name in out or layer.name in gone:
            continue
        if layer.name in skips:
            out[layer.name] = out[skips[layer.name]]
            continue
        sources = layer.input if isinstance(layer.input, list) else [layer.input]
        args = [out[_producer(t).name] for t in sources]
        copy = type(layer).from_config(layer.get_config())
        out[layer.name] = copy(args if isinstance(layer.input, list) else args[0])
        copy.set_weights(layer.get_weights())
    outputs = [out[_producer(t).name] for t in model.outputs]
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)


def ranked(model, evaluate) -> list[tuple[Block, float]]:
    """Every residual block with what removing it alone costs, cheapest first:
    evaluate(model) -> a score (e.g. validation accuracy), higher is better."""
    baseline = evaluate(model)
    costs = [(block, baseline - evaluate(without(model, [block.join])))
             for block in blocks(model)]
    return sorted(costs, key=lambda bc: bc[1])
