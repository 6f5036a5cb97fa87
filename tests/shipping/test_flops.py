"""Multiply-adds from shapes: exact values, by hand."""
import pytest
import tf_keras as keras

from pruning.shipping import flops
from pruning.models import builtin as models
from pruning.config import ExperimentConfig

pytestmark = pytest.mark.fast  # pure math, no training: the developer's tier


def test_per_layer_counts():
    assert flops.dense_macs((None, 300), (784, 300)) == 235_200
    assert flops.dense_macs((None, 7, 16), (8, 16)) == 7 * 8 * 16  # per sequence position
    assert flops.conv_macs((None, 20, 10, 8), (3, 3, 1, 8)) == 20 * 10 * 9 * 8
    assert flops.conv_macs((None, 10, 5, 16), (3, 3, 16, 1)) == 10 * 5 * 9 * 16  # depthwise


def test_model_counts_dense_conv_and_depthwise_once():
    inputs = keras.Input((20, 10, 1))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)  # 20*10*3*3*1*8 = 14,400
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)  # 10*5*3*3*8 = 3,600
    x = keras.layers.BatchNormalization()(x)  # not counted
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10)(x)  # 400*10 = 4,000
    assert flops.model_flops(keras.Model(inputs, outputs)) == 14_400 + 3_600 + 4_000


def test_lenet_300_100():
    model = models.build("mlp", (28, 28, 1), 10, ExperimentConfig())
    assert flops.model_flops(model) == 784 * 300 + 300 * 100 + 100 * 10


def test_unknown_layer_type_lists_the_known_ones():
    with pytest.raises(ValueError, match="choose one of: Conv2D, Dense, DepthwiseConv2D"):
        flops.COUNTERS.get("LSTM")


def test_mobilenetv2_matches_its_paper():
    """Sandler et al. 2018, table 3: MobileNetV2 1.0 at 224x224 costs 300M multiply-adds
    (with its 1000-class head; ours has 10 classes)."""
    model = models.build("mobilenetv2", (32, 32, 3), 10, ExperimentConfig(input_size=224))
    with_imagenet_head = flops.model_flops(model) + 1280 * (1000 - 10)
    assert with_imagenet_head == pytest.approx(300e6, rel=0.01)
