import pytest
import tensorflow as tf

from pruning.granularity import tfmot_pruning
from pruning.sparsity import schedules
from pruning.config import ExperimentConfig
from pruning.errors import ConfigError
from pruning.sparsity.schedules import Window, polynomial_decay

pytestmark = pytest.mark.fast  # pure math, no training: the developer's tier

STYLE = dict(initial_sparsity=0.2, final_sparsity=0.8, begin_step=100, end_step=110, power=3)


@pytest.mark.parametrize("step,expected", [(100, 0.2), (102, 0.4928), (105, 0.725),
                                           (110, 0.8), (90, 0.2), (200, 0.8)])
def test_polynomial_decay_exact_values(step, expected):
    assert polynomial_decay(step, **STYLE) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("step", [0, 99, 100, 101, 102, 103, 105, 108, 109, 110, 111, 150])
def test_matches_tfmot_polynomial_decay(step):
    import tensorflow_model_optimization as tfmot

    ours_window = Window(100, 110, 2, 200)
    theirs = tfmot.sparsity.keras.PolynomialDecay(0.2, 0.8, 100, 110, power=3, frequency=2)
    should_update, sparsity = theirs(tf.constant(step, tf.int64))
    assert float(sparsity) == pytest.approx(polynomial_decay(step, **STYLE), abs=1e-6)
    assert bool(should_update) == schedules.is_update_step(step, ours_window)


def test_constant_sparsity_matches_tfmot():
    import tensorflow_model_optimization as tfmot

    theirs = tfmot.sparsity.keras.ConstantSparsity(0.7, 10, 20, frequency=5)
    window = Window(10, 20, 5, 30)
    for step in range(0, 30):
        update, sparsity = theirs(tf.constant(step, tf.int64))
        assert bool(update) == schedules.is_update_step(step, window)
        ours = schedules.constant_sparsity(step, 0, 0.7, 10, 20, 3)
        assert float(sparsity) == pytest.approx(ours)


def test_sparsity_in_force_holds_last_update():
    window = Window(100, 110, 2, 200)
    args = (polynomial_decay, 0.2, 0.8, 3)
    assert schedules.sparsity_in_force(99, window, *args) == 0.0
    assert schedules.sparsity_in_force(100, window, *args) == pytest.approx(0.2)
    assert schedules.sparsity_in_force(103, window, *args) == pytest.approx(0.4928)  # from 102
    assert schedules.sparsity_in_force(150, window, *args) == pytest.approx(0.8)


def test_step_zero_never_updates():
    window = Window(0, 10, 5, 20)
    assert not schedules.is_update_step(0, window)
    assert schedules.last_update_step(4, window) is None
    assert schedules.last_update_step(5, window) == 5
    assert schedules.last_update_step(19, window) == 10


def test_resolve_window_auto_lands_on_a_whole_number_of_frequencies():
    config = ExperimentConfig(retrain_epochs=10, frequency=100, end_fraction=0.7)
    window = config.window(422)  # 4220 steps
    assert window == Window(0, 2900, 100, 4220)


def test_resolve_window_explicit_steps_kept():
    config = ExperimentConfig(retrain_epochs=2, frequency=10, begin_step=20, end_step=60)
    assert config.window(50) == Window(20, 60, 10, 100)


def test_resolve_window_rejects_end_past_the_retraining():
    config = ExperimentConfig(retrain_epochs=1, frequency=10, begin_step=0, end_step=200)
    with pytest.raises(ConfigError, match="end_step=200 is past the last retraining step 50"):
        config.window(50)


def test_resolve_window_rejects_frequency_longer_than_window():
    config = ExperimentConfig(retrain_epochs=1, frequency=100)
    with pytest.raises(ConfigError, match="frequency=100"):
        config.window(10)


@pytest.mark.parametrize("updates,steps,expected", [
    (10, 422, Window(0, 2950, 295, 4220)),  # 2954 steps of window: 10 updates of 295
    (4, 2, Window(0, 12, 3, 20)),           # 14 steps: 4 updates of 3
    (100, 1, Window(0, 7, 1, 10)),          # fewer steps than updates: one per step
    (5, 1, Window(3, 7, 1, 10)),            # begin_fraction 0.3: window 3..7, 4 updates
])
def test_mask_updates_give_a_valid_window_on_any_data_size(updates, steps, expected):
    config = ExperimentConfig(retrain_epochs=10, mask_updates=updates, frequency=10_000,
                              begin_fraction=0.3 if expected.begin_step else 0.0)
    assert config.window(steps) == expected


def test_build_returns_the_named_tfmot_schedule():
    import tensorflow_model_optimization as tfmot

    config = ExperimentConfig(schedule="constant_sparsity", final_sparsity=0.8)
    built = tfmot_pruning.build_schedule(config.schedule, config.initial_sparsity, config.final_sparsity, config.power, Window(0, 100, 10, 200))
    assert isinstance(built, tfmot.sparsity.keras.ConstantSparsity)
    assert built.target_sparsity == 0.8


def test_epochs_until_counts_the_epoch_a_step_falls_in():
    assert [schedules.epochs_until(step, 10) for step in (1, 10, 11, 30)] == [1, 1, 2, 3]
