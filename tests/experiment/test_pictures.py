"""Mask pictures: the pure numbers behind them, exactly, and the figures a run logs."""
import numpy as np

from pruning.experiment import describe
from pruning.sparsity import masks
from pruning.config import ExperimentConfig
from pruning.sparsity.schedules import Window


def test_pixel_keep_share_maps_kept_weights_onto_pixels():
    # 2x3 single-channel images, 4 units: pixel (0, 1) keeps all 4 weights, (1, 2) keeps 1,
    # every other pixel none.
    mask = np.zeros((6, 4), bool)
    mask[1] = True
    mask[5, 2] = True
    np.testing.assert_array_equal(masks.pixel_keep_share(mask, (2, 3, 1)),
                                  [[0, 1, 0], [0, 0, 0.25]])
    # channels are averaged: (H, W, C) = (1, 1, 2), one channel fully kept
    np.testing.assert_array_equal(masks.pixel_keep_share(np.array([[1, 1], [0, 0]], bool),
                                                         (1, 1, 2)), [[0.5]])


def test_block_share_and_flips_are_exact():
    matrix = np.ones((5, 7))
    matrix[0, 0] = 0
    shown = masks.block_share(matrix, 3)
    assert shown.shape == (3, 3) and shown[0, 0] == 5 / 6 and shown[2, 2] == 1
    before = np.array([1, 1, 0, 0, 1], bool)
    after = np.array([0, 1, 1, 0, 0], bool)
    assert masks.flips(before, after) == (2, 1)
    assert masks.as_matrix(np.zeros((3, 3, 4, 8))).shape == (36, 8)


def test_a_run_draws_its_schedule_masks_and_pixels():
    config = ExperimentConfig(pretrain_epochs=1, retrain_epochs=2, frequency=10)
    window = Window(begin_step=0, end_step=20, frequency=10, total_steps=40)
    history = [{"loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5}] + [
        {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.8, "sparsity": s}
        for s in (0.7, 0.9)]
    rng = np.random.default_rng(0)
    snapshots = [(1, {"fc1": rng.random((12, 4)) > 0.7, "fc2": rng.random((4, 3)) > 0.7}),
                 (2, {"fc1": rng.random((12, 4)) > 0.9, "fc2": rng.random((4, 3)) > 0.9})]
    metrics = {"sparsity/fc1": 0.9, "sparsity/fc2": 0.9}
    figures = describe.figures(config, history, window, metrics, snapshots, ("fc1", (3, 4, 1)))
    curves = figures["plots/training_curves.png"].axes[0]
    assert "pruning starts" in [line.get_label() for line in curves.lines]
    scaled = describe.figures(config.replace(retrain_dropout_scale=0.3), history, window,
                              metrics, snapshots, ("fc1", (3, 4, 1)))
    curves = scaled["plots/training_curves.png"].axes[0]
    assert "pruning starts (dropout x0.3)" in [line.get_label() for line in curves.lines]
    assert "masks fixed: the rebuilt model trains" not in [line.get_label()
                                                           for line in curves.lines]
    channels = [{**h, "channel_sparsity": h.get("sparsity", 0.0)} for h in history]
    shallower = describe.figures(config.replace(granularity="channel",
                                                residual_blocks_removed=3), channels, window,
                                 metrics, snapshots)
    assert "pruning starts (3 residual blocks removed)" in [
        line.get_label() for line in shallower["plots/training_curves.png"].axes[0].lines]
    assert set(figures) == {"plots/training_curves.png", "plots/sparsity_schedule.png",
                            "plots/layer_sparsity.png", "plots/masks_final.png",
                            "plots/mask_changes.png", "plots/pixel_map.png"}
    # the schedule plot shows where it starts: initial_sparsity at begin_step
    axes = figures["plots/sparsity_schedule.png"].axes[0]
    schedule = axes.lines[0]
    assert schedule.get_xdata()[0] == 0 and schedule.get_ydata()[0] == 0.5
    assert len(axes.lines[2].get_xdata()) == 2  # measured at both epoch ends
    pixel = figures["plots/pixel_map.png"].axes[0].images[0].get_array()
    np.testing.assert_allclose(pixel, masks.pixel_keep_share(snapshots[-1][1]["fc1"], (3, 4, 1)))


def test_a_structured_run_marks_where_its_rebuilt_model_took_over():
    # 20 steps an epoch, the last mask update at step 30: the masked model trains 2 epochs
    # of 4, the rebuilt one from epoch 1 (dense) + 2 on.
    window = Window(begin_step=0, end_step=30, frequency=10, total_steps=80)
    history = [{"loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5,
                "channel_sparsity": 0.5}] * 5
    for rebuilt, lines in ((True, 1), (False, 0)):
        config = ExperimentConfig(pretrain_epochs=1, retrain_epochs=4, frequency=10,
                                  granularity="channel", finetune_rebuilt=rebuilt)
        curves = describe.figures(config, history, window, {})[
            "plots/training_curves.png"].axes[0]
        marked = [line for line in curves.lines
                  if line.get_label() == "masks fixed: the rebuilt model trains"]
        assert len(marked) == lines
        if rebuilt:
            assert list(marked[0].get_xdata()) == [2.5, 2.5]  # before epoch 3 (0-based)
