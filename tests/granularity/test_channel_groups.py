"""Channel groups read off tiny graphs, checked by hand."""
import pytest
import tf_keras as keras

from pruning.models import builtin as models
from pruning.granularity.channels.groups import channel_groups
from pruning.config import ExperimentConfig

pytestmark = pytest.mark.fast  # pure math, no training: the developer's tier

L = keras.layers


def _by_producers(model):
    return {tuple(g.producers): g for g in channel_groups(model)}


def test_a_chain_of_convs():
    inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(4, 3, name="a")(inputs)
    x = L.ReLU(name="relu")(L.BatchNormalization(name="bn")(x))
    x = L.Conv2D(6, 3, name="b")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Dense(3, activation="softmax", name="out")(x)
    groups = _by_producers(keras.Model(inputs, outputs))
    assert set(groups) == {("a",), ("b",), ("out",)}
    a, b, out = groups[("a",)], groups[("b",)], groups[("out",)]
    assert (a.per_channel, a.consumers, a.frozen) == (["bn", "relu"], ["b"], "")
    assert (b.per_channel, b.consumers, b.frozen) == (["gap"], ["out"], "")
    assert out.frozen == "the model's output (one per class)"


def test_a_residual_add_ties_both_sides_and_depthwise_follows():
    inputs = keras.Input((8, 8, 2))
    x = L.Conv2D(4, 1, name="a")(inputs)
    y = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    y = L.Conv2D(4, 1, name="b")(y)
    z = L.Add(name="add")([x, y])
    z = L.Conv2D(5, 1, name="c")(z)
    outputs = L.Dense(3, name="out")(L.Flatten(name="flat")(z))
    groups = _by_producers(keras.Model(inputs, outputs))
    assert set(groups) == {("a", "b"), ("c",), ("out",)}
    tied = groups[("a", "b")]
    assert tied.per_channel == ["dw", "add"] and tied.consumers == ["b", "c"]
    assert not tied.frozen
    assert groups[("c",)].consumers == ["flat"]


def test_unknown_layers_freeze_what_they_read():
    inputs = keras.Input((4, 4, 1))
    x = L.Conv2D(2, 1, name="a")(inputs)
    y = L.Conv2D(2, 1, name="b")(inputs)
    x = L.Concatenate(name="cat")([x, y])
    outputs = L.Dense(3, name="out")(L.Flatten()(L.Conv2D(2, 1, name="c")(x)))
    groups = _by_producers(keras.Model(inputs, outputs))
    assert groups[("a",)].frozen == groups[("b",)].frozen == "read by cat (Concatenate)"
    assert not groups[("c",)].frozen


def test_mobilenetv2_blocks_tie_through_their_additions():
    model = models.build("mobilenetv2_xnnpack", (32, 32, 3), 10, ExperimentConfig(alpha=0.35))
    groups = channel_groups(model)
    producers = [p for g in groups for p in g.producers]
    assert len(producers) == len(set(producers))  # every conv in exactly one group
    # block 1 (24 channels, 2 repeats): its two projections meet in an Add
    assert any({"block1_project", "block2_project"} <= set(g.producers) for g in groups)
    # every expansion conv is a group of its own, cut freely
    expand = [g for g in groups if len(g.producers) == 1 and
              g.producers[0].endswith("_expand")]
    assert expand and all(not g.frozen for g in expand)
    assert [g for g in groups if g.producers == ["output"]][0].frozen
