import os

import numpy as np
import pytest
import tf_keras as keras

from pruning.data import splits as data
from pruning.models import builtin as models
from pruning.sparsity import schedules
from pruning.training import loop as train
from pruning.config import ExperimentConfig
from pruning.sparsity import policies
from pruning.granularity import tfmot_pruning
from pruning.observers import Observer
from pruning.tracking import masks_file


class Recorder(Observer):
    def __init__(self):
        self.epochs, self.snapshots = [], []

    def epoch_end(self, step, metrics):
        self.epochs.append((step, metrics))

    def mask_snapshot(self, step, masks, final):
        self.snapshots.append((step, masks, final))


@pytest.fixture(scope="module")
def pruned_run():
    """One tiny dense model, pruned to 80% over 3 epochs (shared by the tests below)."""
    config = ExperimentConfig(dataset="synthetic", model="mlp", pretrain_epochs=1, retrain_epochs=3,
                              batch_size=64, frequency=3, final_sparsity=0.8, mask_log_every=2)
    splits = data.load(config.dataset, "", config.val_fraction, config.seed)
    dense = models.build(config.model, splits.input_shape, splits.num_classes, config)
    pre = Recorder()
    train.pretrain(dense, splits, config, [pre])
    before = [w.copy() for w in dense.get_weights()]
    window = config.window(schedules.steps_per_epoch(len(splits.x_train), 64))
    observer = Recorder()
    pruned, history = tfmot_pruning.retrain(dense, splits, config, window, [observer], step_offset=1)
    return config, dense, before, pruned, history, observer, pre, window


def test_each_layer_reaches_the_requested_sparsity(pruned_run):
    config, _, _, pruned, history, *_ = pruned_run
    stripped = tfmot_pruning.strip(pruned)
    kernels = policies.prunable_kernels(stripped, ExperimentConfig())
    assert set(kernels) == {"fc1", "fc2"}
    for name, kernel in kernels.items():
        # tfmot keeps round((1 - s) * n) weights of each layer
        assert np.count_nonzero(kernel) == round(0.2 * kernel.size), name
    assert np.count_nonzero(stripped.get_layer("output").kernel.numpy()) == 100 * 10
    assert history[-1]["sparsity"] == pytest.approx(0.8, abs=1e-4)
    assert history[-1]["target_sparsity"] == pytest.approx(0.8)


def test_dense_model_is_left_intact(pruned_run):
    _, dense, before, *_ = pruned_run
    for a, b in zip(before, dense.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_final_masks_match_stripped_weights(pruned_run):
    _, _, _, pruned, _, observer, _, _ = pruned_run
    step, final_masks, final = observer.snapshots[-1]
    assert final and step == 1 + 2
    restored = masks_file.from_npz(__import__("io").BytesIO(masks_file.to_npz_bytes(final_masks)))
    stripped = tfmot_pruning.strip(pruned)
    for name, mask in restored.items():
        np.testing.assert_array_equal(mask, stripped.get_layer(name).kernel.numpy() != 0)


def test_observers_get_one_dict_per_epoch_with_sparsity(pruned_run):
    _, _, _, _, _, observer, pre, window = pruned_run
    assert [s for s, _ in pre.epochs] == [0]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr"} <= pre.epochs[0][1].keys()
    assert [s for s, _ in observer.epochs] == [1, 2, 3]
    for _, metrics in observer.epochs:
        assert {"sparsity", "target_sparsity", "sparsity/fc1", "sparsity/fc2"} <= metrics.keys()
    # snapshots after epoch 2 (mask_log_every=2) and the final one; change logged from the 2nd
    assert [(s, f) for s, _, f in observer.snapshots] == [(2, False), (3, True)]
    assert "mask_change" in observer.epochs[2][1] and "mask_change" not in observer.epochs[0][1]


def test_every_epoch_reports_its_seconds_and_the_cores_it_got(pruned_run):
    _, _, _, _, _, observer, pre, _ = pruned_run
    for _, metrics in pre.epochs + observer.epochs:
        assert metrics["epoch_seconds"] > 0
        # process CPU time over wall time: at most every core the machine has
        assert 0 < metrics["epoch_cores"] <= os.cpu_count() * 1.05


def test_target_sparsity_is_what_the_masks_hold(pruned_run):
    config, _, _, _, history, _, _, window = pruned_run
    for metrics in history:
        assert metrics["sparsity"] == pytest.approx(metrics["target_sparsity"], abs=2e-3)


def test_divergence_raises(tmp_path):
    config = ExperimentConfig(dataset="synthetic", pretrain_epochs=2, pretrain_lr=1e12,
                              lr_schedule="constant", batch_size=64)
    splits = data.load("synthetic", "", 0.1, 0)
    model = models.build("mlp", splits.input_shape, splits.num_classes, config)
    with pytest.raises(train.TrainingDiverged, match="lower the learning rate"):
        train.pretrain(model, splits, config)


def test_mobilenetv2_is_one_graph_whose_convs_get_wrapped():
    """keras.applications' layers sit in our model (not one nested layer), so every
    Conv2D is reached; tfmot has nothing to prune in depthwise convs, so they stay."""
    config = ExperimentConfig(model="mobilenetv2", alpha=0.35, input_size=32,
                              bn_momentum=0.9, frequency=1)
    dense = models.build("mobilenetv2", (20, 10, 1), 10, config)
    assert not any(isinstance(layer, keras.Model) for layer in dense.layers)
    bn = [l for l in dense.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert bn and all(l.momentum == 0.9 for l in bn)
    wrapped = tfmot_pruning.wrap_for_pruning(dense, config, schedules.Window(0, 10, 1, 20))
    convs = [l for l in dense.layers if type(l) is keras.layers.Conv2D]
    assert {w.layer.name for w in tfmot_pruning.pruned_wrappers(wrapped)} == {c.name for c in convs}


def test_augmented_training_repeats_exactly():
    config = ExperimentConfig(dataset="synthetic", model="cnn", augment="shift_flip",
                              shift_pixels=2, pretrain_epochs=1, batch_size=64)
    splits = data.load("synthetic", "", 0.1, 0)
    weights = []
    for _ in range(2):
        model = models.build("cnn", splits.input_shape, splits.num_classes, config)
        train.pretrain(model, splits, config)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_a_phase_split_in_two_keeps_one_schedule():
    whole = train.Phase("retrain", 10, 1e-3, step_offset=4)
    head, tail = whole.split(3)
    assert (head.epochs, head.step_offset, head.schedule_epochs, head.schedule_start) \
        == (3, 4, 10, 0)
    assert (tail.epochs, tail.step_offset, tail.schedule_epochs, tail.schedule_start) \
        == (7, 7, 10, 3)
    assert whole.split(10) == (whole, None)


def test_accuracy_by_direct_calls_is_what_keras_evaluates():
    config = ExperimentConfig(dataset="synthetic", model="mlp", pretrain_epochs=1, batch_size=64)
    splits = data.load(config.dataset, "", config.val_fraction, config.seed)
    model = models.build(config.model, splits.input_shape, splits.num_classes, config)
    train.pretrain(model, splits, config)
    evaluated = train.evaluate(model, splits.x_val, splits.y_val, 64)["accuracy"]
    assert 0 < evaluated < 1
    # slices that do not divide the split, and one slice of it all
    for batch in (7, len(splits.x_val)):
        assert train.accuracy(model, splits.x_val, splits.y_val, batch) == \
            pytest.approx(evaluated, abs=1e-6)
