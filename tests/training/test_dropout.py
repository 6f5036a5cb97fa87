"""Dropout while retraining (retrain_dropout_scale): exact rates, the training step
really uses them, and the dense model keeps its own."""
import numpy as np
import pytest
import tf_keras as keras

from pruning.data import splits as data
from pruning.training import dropout
from pruning.models import builtin as models
from pruning.sparsity import schedules
from pruning.training import loop as train
from pruning.config import ExperimentConfig
from pruning.errors import ConfigError
from pruning.granularity import GRANULARITIES
from pruning.granularity import tfmot_pruning


def _rates(model) -> list[float]:
    return [getattr(layer, "layer", layer).rate for layer in model.layers
            if isinstance(getattr(layer, "layer", layer), keras.layers.Dropout)]


def _mlp_with_dropout(splits, rate=0.5):
    inputs = keras.Input(splits.input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(32, activation="relu", name="fc")(x)
    x = keras.layers.Dropout(rate)(x)
    outputs = keras.layers.Dense(splits.num_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs)


def test_rescale_sets_each_rate_to_its_own_times_the_factor_wrapped_or_not():
    config = ExperimentConfig(dataset="fashion_mnist", model="cnn")
    cnn = models.build("cnn", (28, 28, 1), 10, config)
    assert _rates(cnn) == [0.25, 0.25, 0.5]
    wrapped = tfmot_pruning.wrap_for_pruning(cnn, config, schedules.Window(0, 10, 1, 20))
    got = dropout.rescale(wrapped, 0.3)
    assert sorted(got.values()) == pytest.approx([0.075, 0.075, 0.15])
    assert _rates(wrapped) == pytest.approx([0.075, 0.075, 0.15])
    dropout.rescale(wrapped, 0.3)  # from the model's own rates, not compounded
    assert _rates(wrapped) == pytest.approx([0.075, 0.075, 0.15])
    assert _rates(cnn) == [0.25, 0.25, 0.5]  # wrapping copied the layers


def test_the_training_step_uses_the_scaled_rate():
    """At a learning rate of 0 the weights never move, so with dropout off the training
    loss of the epoch is the loss evaluate() reports on the same data; at 0.5 it is not."""
    config = ExperimentConfig(dataset="synthetic", model="mlp", batch_size=64,
                              lr_schedule="constant")
    splits = data.load(config.dataset, "", config.val_fraction, config.seed)
    keras.utils.set_random_seed(0)
    model = _mlp_with_dropout(splits)
    expected = train.evaluate(model, splits.x_train, splits.y_train, 64)["loss"]

    def training_loss(scale):
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        phase = train.Phase("retrain", 1, 0.0, 0, dropout_scale=scale)
        return train.fit(copy, splits, config, phase, ())[0]["loss"]

    assert training_loss(0.0) == pytest.approx(expected, rel=1e-5)
    assert abs(training_loss(1.0) - expected) > 0.01


@pytest.mark.parametrize("granularity", ["weight", "channel"])
def test_retraining_scales_the_pruned_copy_and_leaves_the_dense_model(granularity):
    config = ExperimentConfig(dataset="synthetic", model="mlp", retrain_epochs=1,
                              batch_size=64, frequency=1, granularity=granularity,
                              retrain_dropout_scale=0.4)
    splits = data.load(config.dataset, "", config.val_fraction, config.seed)
    dense = _mlp_with_dropout(splits)
    window = config.window(schedules.steps_per_epoch(len(splits.x_train), 64))
    pruned = GRANULARITIES.get(granularity).prune(dense, splits, config, window, (), 0)
    assert _rates(pruned.shipped) == pytest.approx([0.2])
    assert _rates(dense) == [0.5]
    assert np.isfinite(pruned.history[-1]["loss"])


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_a_scale_outside_0_1_is_refused(value):
    with pytest.raises(ConfigError, match=rf"retrain_dropout_scale={value} is outside \[0, 1\]"):
        ExperimentConfig(retrain_dropout_scale=value)


def test_a_sweep_point_fine_tunes_with_the_retraining_dropout():
    from pruning.training import mask_holding

    config = ExperimentConfig(dataset="synthetic", model="mlp", batch_size=64,
                              retrain_dropout_scale=0.4)
    splits = data.load(config.dataset, "", config.val_fraction, config.seed)
    model = _mlp_with_dropout(splits)
    mask_holding.finetune(model, splits, config, 1)
    assert _rates(model) == pytest.approx([0.2])


def test_the_run_name_says_the_dropout_changed():
    """(The training curves say it too: test_pictures.)"""
    from pruning.experiment import describe

    assert describe.run_name(ExperimentConfig(retrain_dropout_scale=0.3)) == \
        "mlp-mnist-50%to90%-drop0.3"
    assert describe.run_name(ExperimentConfig()) == "mlp-mnist-50%to90%"
