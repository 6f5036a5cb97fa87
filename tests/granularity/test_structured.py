"""Structured (unit and channel) pruning: the rebuilt model computes what the masked one
does, the schedule removes the planned channels and holds them, runs log it all."""
import mlflow
import numpy as np
import pytest
import tf_keras as keras
from mlflow.tracking import MlflowClient

from pruning.granularity.channels import masks as channel_masks
from pruning.granularity.channels import plan as channel_plan
from pruning.data import splits as data
from pruning.experiment import pipeline
from pruning.shipping import flops
from pruning.models import builtin as models
from pruning.granularity.channels import rebuild
from pruning.sparsity import schedules
from pruning.granularity.channels import pruning as structured
from pruning.config import ExperimentConfig
from pruning.errors import ConfigError

from tests.conftest import use_store

CHANNELS = ("Conv2D", "Dense")


def _random_batchnorm(model, rng):
    """BatchNorm statistics far from their initial values: a removed channel must not
    leak its moving mean or offset into the outputs."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.5, b.shape),
                               rng.normal(0, 0.5, m.shape), rng.uniform(0.5, 2, v.shape)])


@pytest.mark.parametrize("name, shape, extra", [
    ("cnn", (12, 10, 1), {}),  # Flatten into Dense: rows per spatial position
    ("mlp", (12, 10, 1), {}),
    ("mobilenetv2", (32, 32, 3), {"alpha": 0.35}),  # residual Adds, depthwise convs
    ("mobilenetv2", (16, 16, 1), {"alpha": 0.35, "input_size": 32}),  # Resizing, Concat
])
def test_rebuilt_model_computes_what_the_masked_one_does(name, shape, extra):
    rng = np.random.default_rng(0)
    config = ExperimentConfig(model=name, granularity="channel", **extra)
    dense = models.build(name, shape, 10, config)
    _random_batchnorm(dense, rng)
    masked, masks = structured.one_shot(dense, config, 0.5, CHANNELS)
    small = rebuild.rebuild(masked, masks.keep)
    x = rng.normal(size=(6, *shape)).astype("float32")
    np.testing.assert_allclose(small(x, training=False).numpy(),
                               masked(x, training=False).numpy(), rtol=1e-4, atol=1e-5)
    assert 0.25 < small.count_params() / dense.count_params() < 0.6
    assert flops.model_flops(small) < 0.5 * flops.model_flops(dense)
    for group in masks.plan.groups:  # every producer of a group cut alike
        widths = {small.get_layer(p).output_shape[-1] for p in group.producers}
        assert widths == {int(masks.keep[group.key].sum())}
    assert [type(layer) for layer in small.layers] == [type(layer) for layer in dense.layers]


def test_tied_channels_go_together_and_the_output_stays():
    config = ExperimentConfig(model="mobilenetv2", alpha=0.35, granularity="channel")
    dense = models.build("mobilenetv2", (32, 32, 3), 10, config)
    plan = channel_plan.make_plan(dense, config, CHANNELS)
    tied = [g for g in plan.groups if len(g.producers) > 1]
    assert ("block_3_project", "block_4_project", "block_5_project") in \
        [g.producers for g in tied]
    assert plan.left == (("output", "the model's output (one per class)"),)
    text = plan.describe()
    assert "left alone: output (the model's output (one per class))" in text
    assert "pruned together (16 channels): block_3_project, block_4_project" in text
    # unit pruning: only Dense producers; the convs are said to be left alone
    units = channel_plan.make_plan(models.build("cnn", (12, 10, 1), 10, config), config,
                                   ("Dense",))
    assert [g.key for g in units.groups] == ["fc1"]
    assert ("conv1_1", "Conv2D channels are not pruned here") in units.left


def test_pointwise_policy_and_activations_that_are_not_zero_at_zero():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(8, 3, name="spatial", activation="relu")(inputs)
    x = keras.layers.Conv2D(8, 1, name="pointwise", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="sigmoid", name="gate")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="out")(x))
    config = ExperimentConfig(granularity="channel", pruning_policy="pointwise")
    plan = channel_plan.make_plan(model, config, CHANNELS)
    assert [g.key for g in plan.groups] == ["pointwise"]
    assert dict(plan.left) == {"spatial": "not allowed by the pruning policy",
                               "gate": "gate's activation is not zero at zero",
                               "out": "the model's output (one per class)"}


@pytest.fixture(scope="module")
def splits():
    return data.load("synthetic", "", 0.1, 0)


def test_gradual_schedule_removes_the_planned_channels_and_holds_them(splits):
    config = ExperimentConfig(dataset="synthetic", model="cnn", granularity="channel",
                              retrain_epochs=2, batch_size=64, initial_sparsity=0.25,
                              final_sparsity=0.5, frequency=1, channel_multiple=1,
                              end_fraction=0.5, finetune_rebuilt=False)
    dense = models.build("cnn", splits.input_shape, splits.num_classes, config)
    steps = schedules.steps_per_epoch(len(splits.x_train), config.batch_size)
    window = config.window(steps)
    snapshots = []

    class Snap:
        def epoch_end(self, step, metrics): pass
        def mask_snapshot(self, step, masks, final): snapshots.append((step, masks, final))

    model, masks, history, shipped = structured.retrain(dense, splits, config, window,
                                                         CHANNELS, [Snap()])
    for group in masks.plan.groups:
        expected = channel_masks.n_channels_kept(group.channels, 0.5)
        assert masks.keep[group.key].sum() == expected
        removed = ~masks.keep[group.key]
        for producer in group.producers:  # zero after the last batch, not only at updates
            assert not model.get_layer(producer).kernel.numpy()[..., removed].any()
    assert history[-1]["channel_sparsity"] == pytest.approx(0.5, abs=0.01)
    assert history[-1]["target_sparsity"] == pytest.approx(0.5)
    assert history[0]["channel_sparsity"] > 0.25  # pruning began in the first epoch
    assert [final for *_, final in snapshots] == [False, True]
    last = snapshots[-1][1]
    conv2 = last["conv1_2"]  # (kh, kw, in, out): rows and columns of removed channels
    assert not conv2[:, :, ~masks.keep["conv1_1"], :].any()
    assert not conv2[..., ~masks.keep["conv1_2"]].any()
    small = rebuild.rebuild(model, masks.keep)
    np.testing.assert_allclose(small.predict(splits.x_test[:16], verbose=0),
                               model.predict(splits.x_test[:16], verbose=0), atol=1e-5)
    np.testing.assert_allclose(shipped.predict(splits.x_test[:16], verbose=0),
                               model.predict(splits.x_test[:16], verbose=0), atol=1e-5)


def test_after_the_last_mask_update_the_rebuilt_model_trains(splits):
    config = ExperimentConfig(dataset="synthetic", model="cnn", granularity="channel",
                              retrain_epochs=3, batch_size=64, initial_sparsity=0.25,
                              final_sparsity=0.5, frequency=1, channel_multiple=1,
                              end_fraction=0.3, retrain_lr=1e-3)
    dense = models.build("cnn", splits.input_shape, splits.num_classes, config)
    steps = schedules.steps_per_epoch(len(splits.x_train), config.batch_size)
    window = config.window(steps)
    assert window.end_step < steps  # the masks are final within the first epoch
    seen = []

    class Watch:
        def epoch_end(self, step, metrics): seen.append(("epoch", step))
        def mask_snapshot(self, step, masks, final): seen.append(("masks", step, final))
        def status(self, text): seen.append(("status", text))

    model, masks, history, small = structured.retrain(dense, splits, config, window,
                                                      CHANNELS, [Watch()])
    assert len(history) == 3
    # One cosine schedule across the masked epoch and the rebuilt model's two (the lr
    # logged is the one the epoch's last step used).
    cosine = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=3 * steps)
    for epoch, metrics in enumerate(history):
        assert metrics["lr"] == pytest.approx(float(cosine((epoch + 1) * steps - 1)),
                                              rel=1e-6, abs=1e-9)
    statuses = [text for kind, text, *_ in seen if kind == "status"]
    assert statuses == [f"masks fixed: fine-tuning the rebuilt model ({small.count_params():,}"
                        f" of {dense.count_params():,} parameters) for 2 epochs"]
    assert [e[1] for e in seen if e[0] == "epoch"] == [0, 1, 2]
    assert seen.index(("status", statuses[0])) == 2  # after the masked epoch and its snapshot
    assert [(step, final) for kind, step, final in
            (e for e in seen if e[0] == "masks")] == [(0, False), (1, False), (2, True)]
    kept = channel_masks.n_channels_kept(32, 0.5)
    assert small.get_layer("conv1_1").filters == kept
    for metrics in history[1:]:  # what was removed, unchanged while the rebuilt model trains
        assert metrics["channel_sparsity"] == history[0]["channel_sparsity"]
        assert metrics["target_sparsity"] == pytest.approx(0.5)
    # The rebuilt model is the one that trained on: not the masked model cut down...
    untrained = rebuild.rebuild(model, masks.keep)
    assert not np.allclose(small.get_layer("conv1_1").kernel.numpy(),
                           untrained.get_layer("conv1_1").kernel.numpy())
    # ...and the last epoch's validation accuracy is its own.
    _, accuracy = small.evaluate(splits.x_val, splits.y_val, verbose=0)
    assert history[-1]["val_accuracy"] == pytest.approx(accuracy, abs=1e-6)


@pytest.fixture(scope="module")
def channel_run(tmp_path_factory):
    with use_store(tmp_path_factory.mktemp("store")):
        config = ExperimentConfig(dataset="synthetic", model="cnn", granularity="channel",
                                  pretrain_epochs=1, retrain_epochs=2, batch_size=64,
                                  frequency=1, latency_runs=5, latency_window=0,
                                  calibration_samples=16, initial_sparsity=0.25,
                                  final_sparsity=0.5)
        yield pipeline.run(config, experiment_name="t"), MlflowClient()


def test_channel_run_ships_the_smaller_model_and_logs_why(channel_run, splits):
    result, client = channel_run
    run = client.get_run(result.run_id)
    m = run.data.metrics
    assert run.data.params["granularity"] == "channel"
    assert m["channel_sparsity"] == pytest.approx(0.5, abs=0.05)
    assert {"channel_sparsity/conv1_1", "channel_sparsity/fc1", "sparsity/conv2_2"} <= m.keys()
    assert m["total_params"] == result.pruned_model.count_params() < 0.4 * m["dense_params"]
    assert m["nonzero_params"] == pytest.approx(m["total_params"], rel=0.01)  # no zeros kept
    assert m["flops"] < 0.4 * m["dense_flops"]
    assert m["int8_latency_us"] > 0 and m["dense_int8_latency_us"] > 0
    assert m["tflite_int8_bytes"] < 0.5 * client.get_run(result.run_id).data.metrics[
        "dense_model_bytes"]
    groups = mlflow.artifacts.load_text(f"runs:/{result.run_id}/channel_groups.md")
    assert "pruned together (32 channels, 16 kept): conv1_1" in groups
    assert "left alone: output" in groups
    assert result.pruned_model.get_layer("conv1_1").filters == 16
    loaded = mlflow.pyfunc.load_model(f"models:/{result.model_id}")
    np.testing.assert_allclose(np.asarray(loaded.predict(splits.as_given(splits.x_test[:4]))),
                               result.pruned_model.predict(splits.x_test[:4], verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_unit_granularity_on_an_mlp(tmp_path, splits):
    with use_store(tmp_path):
        config = ExperimentConfig(dataset="synthetic", granularity="unit", pretrain_epochs=1,
                                  retrain_epochs=1, batch_size=64, frequency=1,
                                  latency_runs=5, latency_window=0, calibration_samples=16)
        result = pipeline.run(config, tracking=False)
    assert (result.pruned_model.get_layer("fc1").units,
            result.pruned_model.get_layer("fc2").units) == (32, 8)  # 90% of 300, 100
    assert result.metrics["channel_sparsity"] == pytest.approx(1 - 40 / 400)


def test_a_model_without_channels_to_remove_is_refused_before_any_run(tmp_path):
    path = tmp_path / "linear.keras"
    inputs = keras.Input((20, 10, 1))
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="out")(
        keras.layers.Flatten()(inputs))).save(path)
    with use_store(tmp_path):
        with pytest.raises(ConfigError, match="granularity=unit: model=.* has no Dense "
                                              "channels it can remove"):
            pipeline.run(ExperimentConfig(dataset="synthetic", model=str(path),
                                            granularity="unit", frequency=1),
                           experiment_name="t")
        assert MlflowClient().search_runs(
            [e.experiment_id for e in MlflowClient().search_experiments()]) == []


@pytest.mark.parametrize("values, name", [
    ({"granularity": "filter"}, "granularity"),
    ({"granularity": "channel", "sparsity_m_by_n": "2,4"}, "sparsity_m_by_n"),
    ({"granularity": "channel", "pruning_policy": "xnnpack"}, "pruning_policy"),
    ({"granularity": "unit", "prune_output": True}, "prune_output"),
    ({"channel_score": "random"}, "channel_score"),
    ({"channel_multiple": 0}, "channel_multiple")])
def test_bad_structured_options_name_the_parameter(values, name):
    with pytest.raises(ConfigError) as error:
        ExperimentConfig(**values)
    assert error.value.parameter == name


def test_progress_line_counts_channels(capsys):
    from pruning.experiment.progress import Progress

    config = ExperimentConfig(granularity="channel", pretrain_epochs=1)
    Progress(config).epoch_end(1, {"loss": 0.3, "accuracy": 0.9, "val_accuracy": 0.88,
                                   "channel_sparsity": 0.25, "target_sparsity": 0.25,
                                   "sparsity": 0.43})
    assert "[retrain 1/10] loss 0.3000 acc 0.9000 val_acc 0.8800 channels removed " \
           "0.250/0.250 (weights 0.430)" in capsys.readouterr().err
    Progress(config).epoch_end(0, {"loss": 0.3, "accuracy": 0.9, "val_accuracy": 0.88,
                                   "epoch_seconds": 102.4, "epoch_cores": 1.04})
    assert "val_acc 0.8800  (0 s; epoch 102 s on 1.0 cores)" in capsys.readouterr().err
