import re

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pruning.data import splits as data
from pruning.shipping import export
from pruning.training import mask_holding
from pruning.models import builtin as models
from pruning.granularity.channels import pruning as structured
from pruning.studies import sweep
from pruning.training import loop as train
from pruning.config import ExperimentConfig
from pruning.studies.configs import SweepConfig
from pruning.errors import ConfigError
from pruning.sparsity import policies
from pruning.granularity import tfmot_pruning


@pytest.fixture(scope="module")
def dense():
    config = ExperimentConfig(dataset="synthetic", pretrain_epochs=2, batch_size=64)
    splits = data.load("synthetic", "", 0.1, 0)
    model = models.build("mlp", splits.input_shape, splits.num_classes, config)
    train.pretrain(model, splits, config)
    return model, splits


def test_unit_method_is_the_structured_code_rebuilt_smaller(dense):
    model, splits = dense
    config = ExperimentConfig(dataset="synthetic", batch_size=64, latency_runs=5, latency_window=0)
    kernels = policies.prunable_kernels(model, ExperimentConfig())
    metrics, small = sweep.one_shot(model, kernels, "unit", 0.6, splits, config, 1.0, 0)
    assert small.get_layer("fc1").units == 120 and small.get_layer("fc2").units == 40
    assert metrics["channel_sparsity"] == pytest.approx(1 - 160 / 400)
    assert metrics["shrunk_params"] == small.count_params() < model.count_params() / 2
    masked, masks = structured.one_shot(model, config, 0.6, ("Dense",))
    np.testing.assert_allclose(small.predict(splits.x_test, verbose=0),
                               masked.predict(splits.x_test, verbose=0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method", ["weight", "global"])
def test_finetuning_keeps_the_masks(dense, method):
    model, splits = dense
    config = ExperimentConfig(dataset="synthetic", batch_size=64, latency_runs=5, latency_window=0)
    kernels = policies.prunable_kernels(model, ExperimentConfig())
    metrics, _ = sweep.one_shot(model, kernels, method, 0.8, splits, config, 1.0,
                             finetune_epochs=2)
    assert metrics["sparsity"] == pytest.approx(0.8, abs=1e-3)
    assert {"oneshot_test_accuracy", "test_accuracy"} <= metrics.keys()


def test_held_masks_keep_removed_units_zero_while_the_rest_trains(dense):
    model, splits = dense
    config = ExperimentConfig(dataset="synthetic", batch_size=64)
    masked, masks = structured.one_shot(model, config, 0.5, ("Dense",))
    before = masked.get_layer("fc1").get_weights()[0].copy()
    mask_holding.finetune(masked, splits, config, 1, masks.held)
    kernel, bias = masked.get_layer("fc1").get_weights()
    removed = ~masks.keep["fc1"]
    assert removed.sum() == 148  # 300 units at 50% keep 150: 152, to a multiple of 8
    assert not kernel[:, removed].any() and not bias[removed].any()
    assert not masked.get_layer("fc2").get_weights()[0][removed].any()  # its input rows
    assert not np.allclose(kernel[:, ~removed], before[:, ~removed])  # the rest trained


def test_unit_finetuning_trains_the_shrunk_network(dense):
    model, splits = dense
    config = ExperimentConfig(dataset="synthetic", batch_size=64, latency_runs=5, latency_window=0)
    kernels = policies.prunable_kernels(model, ExperimentConfig())
    metrics, _ = sweep.one_shot(model, kernels, "unit", 0.5, splits, config, 1.0,
                             finetune_epochs=1)
    assert metrics["shrunk_params"] < model.count_params() / 2
    assert metrics["oneshot_test_loss"] != metrics["test_loss"]  # it trained
    assert metrics["shrunk_latency_us"] > 0


def test_latency_is_positive(dense):
    model, splits = dense
    assert export.latency_us(export.to_tflite(model), splits.x_test[0], 20, window=0) > 0


def test_sweep_creates_a_child_run_per_point_and_plots(store):
    base = ExperimentConfig(dataset="synthetic", pretrain_epochs=2, batch_size=64,
                            retrain_epochs=1, frequency=1, latency_runs=5, latency_window=0)
    config = SweepConfig(sparsities="0,0.5,0.9", methods="weight,unit,global,gradual")
    points, parent_id = sweep.run_sweep(base, config, experiment_name="sweep",
                                        print_line=lambda s: None)
    assert len(points) == 12
    client = MlflowClient()
    exp = client.get_experiment_by_name("sweep").experiment_id
    runs = client.search_runs([exp])
    (parent,) = [r for r in runs if r.data.tags.get("pruning.role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
                and "method" in r.data.tags]
    assert len(children) == 12
    for run in children:
        requested = float(run.data.tags["requested_sparsity"])
        # unit pruning's share is of units (the weights reading them go too)
        share = "channel_sparsity" if run.data.tags["method"] == "unit" else "sparsity"
        assert run.data.metrics[share] == pytest.approx(requested, abs=1e-3)
        assert {"test_accuracy", "test_loss"} <= run.data.metrics.keys()
        assert run.data.params["method"] == run.data.tags["method"]
        assert float(run.data.params["requested_sparsity"]) == requested
    unit = [r for r in children if r.data.tags["method"] == "unit"]
    assert all(r.data.metrics["shrunk_latency_us"] > 0 for r in unit)
    # points named by method and sparsity; the parent's note names the best and has the table
    assert {r.info.run_name for r in children} == {f"{m}-{s}%" for m in config.method_list()
                                                   for s in (0, 50, 90)}
    assert parent.info.run_id == parent_id
    note = parent.data.tags["mlflow.note.content"]
    best = sweep.best_point(points)
    assert f"best point (sparsest within 1 point of its method's dense accuracy): {best.method}" \
        in note and "| method | requested |" in note
    files = {a.path for a in client.list_artifacts(parent.info.run_id)} | \
        {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert {"sweep.md", "summary.md", "plots/accuracy_vs_sparsity.png",
            "plots/loss_vs_sparsity.png"} <= files


def test_series_are_methods_times_distributions_global_once():
    config = SweepConfig(methods="weight,global,unit", distributions="uniform,erk")
    assert config.series("uniform") == [
        ("weight", "uniform", "weight-uniform"), ("weight", "erk", "weight-erk"),
        ("global", "uniform", "global"),
        ("unit", "uniform", "unit-uniform"), ("unit", "erk", "unit-erk")]
    assert SweepConfig(methods="weight").series("erk") == [("weight", "erk", "weight")]


def test_one_shot_weight_pruning_follows_the_distribution(dense):
    model, splits = dense
    config = ExperimentConfig(dataset="synthetic", batch_size=64, sparsity_distribution="erk")
    kernels = policies.prunable_kernels(model, config)
    metrics, _ = sweep.one_shot(model, kernels, "weight", 0.8, splits, config, 1.0, 0)
    expected = tfmot_pruning.layer_targets(model, config.replace(initial_sparsity=0.0,
                                                         final_sparsity=0.8))
    assert metrics["sparsity"] == pytest.approx(0.8, abs=1e-3)
    for layer, (_, final) in expected.items():
        assert metrics[f"sparsity/{layer}"] == pytest.approx(final, abs=1e-3)
    assert expected["fc1"][1] != pytest.approx(expected["fc2"][1], abs=0.01)


def test_best_point_is_the_sparsest_within_a_point_of_dense():
    P = sweep.Point
    points = [P("weight", 0.0, {"sparsity": 0.0, "test_accuracy": 0.95}, "a"),
              P("weight", 0.8, {"sparsity": 0.8, "test_accuracy": 0.945}, "b"),
              P("weight", 0.9, {"sparsity": 0.9, "test_accuracy": 0.93}, "c"),
              P("unit", 0.0, {"sparsity": 0.0, "test_accuracy": 0.95}, "d"),
              P("unit", 0.5, {"sparsity": 0.5, "test_accuracy": 0.949}, "e")]
    assert sweep.best_point(points).run_id == "b"


@pytest.mark.parametrize("changes,fragment", [({"sparsities": "0.5,1.2"}, "outside [0, 1)"),
                                              ({"sparsities": "half"}, "comma-separated"),
                                              ({"methods": "weight,magic"}, "unknown method"),
                                              ({"finetune_epochs": -1}, "finetune_epochs"),
                                              ({"distributions": "uniform,zipf"},
                                               "unknown sparsity_distribution 'zipf'")])
def test_bad_sweep_config(changes, fragment):
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        SweepConfig(**changes)


def test_channel_method_on_a_convnet_times_the_rebuilt_model():
    config = ExperimentConfig(dataset="synthetic", model="cnn", batch_size=64, latency_runs=5,
                              latency_window=0)
    splits = data.load("synthetic", "", 0.1, 0)
    model = models.build("cnn", splits.input_shape, splits.num_classes, config)
    kernels = policies.prunable_kernels(model, config)
    metrics, small = sweep.one_shot(model, kernels, "channel", 0.5, splits, config, 1.0, 1)
    assert small.get_layer("conv2_1").filters == 32 and small.get_layer("fc1").units == 128
    assert metrics["channel_sparsity"] == pytest.approx(0.5)
    assert metrics["shrunk_latency_us"] > 0 and "oneshot_test_accuracy" in metrics
