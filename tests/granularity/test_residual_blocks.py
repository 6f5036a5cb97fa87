"""Depth pruning: the residual blocks found, the model without some of them computing what
the model whose branches output zero does, and the ranking by what each costs."""
import mlflow
import numpy as np
import pytest
import tf_keras as keras
from mlflow.tracking import MlflowClient

from pruning.data import splits as data
from pruning.experiment import pipeline
from pruning.models import builtin as models
from pruning.granularity.channels import rebuild
from pruning.granularity.channels import residual_blocks
from pruning.sparsity import curves as sensitivity_curves
from pruning.granularity.channels import pruning as structured
from pruning.training import loop as train
from pruning.config import ExperimentConfig
from pruning.errors import ConfigError
from pruning.granularity import GRANULARITIES

from tests.conftest import use_store
from tests.granularity.test_structured import _random_batchnorm


@pytest.fixture(scope="module")
def mobilenet():
    config = ExperimentConfig(model="mobilenetv2", alpha=0.35)
    model = models.build("mobilenetv2", (32, 32, 3), 10, config)
    _random_batchnorm(model, np.random.default_rng(0))
    return model


def test_mobilenetv2_has_its_ten_residual_blocks(mobilenet):
    found = residual_blocks.blocks(mobilenet)
    assert [b.name for b in found] == [f"block_{i}" for i in (2, 4, 5, 7, 8, 9, 11, 12, 14,
                                                               15)]
    for b in found:
        assert b.branch[0] == f"{b.name}_expand" and b.branch[-1] == f"{b.name}_project_BN"
        assert len(b.branch) == 8  # expand, BN, ReLU, depthwise, BN, ReLU, project, BN
        assert b.skip.endswith("_add") or b.skip.endswith("_project_BN")


@pytest.mark.parametrize("name", ["cnn", "mlp"])
def test_models_without_skips_have_none(name):
    model = models.build(name, (12, 10, 1), 10, ExperimentConfig(model=name))
    assert residual_blocks.blocks(model) == []


def test_without_a_block_is_the_model_whose_branch_outputs_zero(mobilenet):
    joins = ["block_4_add", "block_12_add", "block_15_add"]
    small = residual_blocks.without(mobilenet, joins)
    zeroed = keras.models.clone_model(mobilenet)
    zeroed.set_weights(mobilenet.get_weights())
    for join in joins:  # the branch's last BatchNorm outputs gamma * (...) + beta = 0
        bn = zeroed.get_layer(join.replace("_add", "_project_BN"))
        g, b, m, v = bn.get_weights()
        bn.set_weights([np.zeros_like(g), np.zeros_like(b), m, v])
    x = np.random.default_rng(1).normal(size=(4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(small(x, training=False), zeroed(x, training=False),
                               rtol=1e-5, atol=1e-6)
    branches = {n for b in residual_blocks.blocks(mobilenet) if b.join in joins
                for n in b.branch}
    assert not branches & {layer.name for layer in small.layers}
    assert small.count_params() == mobilenet.count_params() - sum(
        mobilenet.get_layer(n).count_params() for n in branches)
    # The original is left as it was, and the copy owns its weights.
    assert len(residual_blocks.blocks(mobilenet)) == 10
    assert len(residual_blocks.blocks(small)) == 7
    small.get_layer("block_5_expand").kernel.assign(
        np.zeros(small.get_layer("block_5_expand").kernel.shape))
    assert np.abs(mobilenet.get_layer("block_5_expand").get_weights()[0]).sum() > 0


def test_ranked_costs_each_block_alone_cheapest_first(mobilenet):
    # A score whose change is known exactly: minus the parameter count. Removing a
    # block then "costs" minus its branch's parameters, so the largest ranks first.
    ranked = residual_blocks.ranked(mobilenet, lambda m: -m.count_params())
    params = {b.join: sum(mobilenet.get_layer(n).count_params() for n in b.branch)
              for b in residual_blocks.blocks(mobilenet)}
    assert [(b.join, cost) for b, cost in ranked] == sorted(
        ((join, -p) for join, p in params.items()), key=lambda jc: jc[1])


# -- depth pruning inside channel pruning ------------------------------------------

CHANNELS = ("Conv2D", "Dense")
SMALL = dict(dataset="synthetic", model="mobilenetv2", alpha=0.35, input_size=32,
             granularity="channel", batch_size=64)


@pytest.fixture(scope="module")
def splits():
    return data.load("synthetic", "", 0.1, 0)


def test_channel_pruning_starts_without_the_cheapest_blocks(splits):
    config = ExperimentConfig(**SMALL, residual_blocks_removed=3)
    dense = models.build("mobilenetv2", splits.input_shape, splits.num_classes, config)
    _random_batchnorm(dense, np.random.default_rng(2))

    def accuracy(m):
        return train.evaluate(m, splits.x_val, splits.y_val, config.batch_size)["accuracy"]

    cheapest = residual_blocks.ranked(dense, accuracy)[:3]
    masked, masks = structured.one_shot(dense, config, 0.5, CHANNELS, splits)
    assert masks.plan.removed == tuple((b.name, cost) for b, cost in cheapest)
    assert len(residual_blocks.blocks(masked)) == 7
    assert len(residual_blocks.blocks(dense)) == 10  # the teacher keeps its depth
    small = rebuild.rebuild(masked, masks.keep)
    np.testing.assert_allclose(small.predict(splits.x_test[:8], verbose=0),
                               masked.predict(splits.x_test[:8], verbose=0), atol=1e-5)
    described = masks.plan.describe(masks.keep)
    assert "# Residual blocks removed: 3" in described
    assert f"- {cheapest[0][0].name} (validation accuracy " in described


def test_a_channel_run_without_blocks_logs_which_went(tmp_path, splits):
    with use_store(tmp_path):
        config = ExperimentConfig(**SMALL, residual_blocks_removed=2, pretrain_epochs=1,
                                  retrain_epochs=1, frequency=1, latency_runs=5,
                                  latency_window=0, calibration_samples=16,
                                  final_sparsity=0.5)
        result = pipeline.run(config, experiment_name="t")
        groups = mlflow.artifacts.load_text(f"runs:/{result.run_id}/channel_groups.md")
    assert "# Residual blocks removed: 2" in groups
    assert len(residual_blocks.blocks(result.pruned_model)) == 8
    assert result.metrics["total_params"] == result.pruned_model.count_params()


def test_more_blocks_than_the_model_has_is_refused_before_any_run(tmp_path):
    with use_store(tmp_path):
        with pytest.raises(ConfigError, match=r"residual_blocks_removed=1: model='cnn' has "
                                              r"0 residual blocks"):
            pipeline.run(ExperimentConfig(dataset="synthetic", model="cnn",
                                            granularity="channel", frequency=1,
                                            residual_blocks_removed=1), experiment_name="t")
        assert MlflowClient().search_runs(
            [e.experiment_id for e in MlflowClient().search_experiments()]) == []


def test_blocks_need_channel_granularity():
    with pytest.raises(ConfigError) as error:
        ExperimentConfig(granularity="weight", residual_blocks_removed=2)
    assert error.value.parameter == "residual_blocks_removed"
    with pytest.raises(ConfigError) as error:
        ExperimentConfig(granularity="channel", residual_blocks_removed=-1)
    assert error.value.parameter == "residual_blocks_removed"


def test_curves_must_come_from_the_same_depth(tmp_path):
    path = tmp_path / "sensitivity.json"
    path.write_text(sensitivity_curves.to_json(
        "channel", 0.8, {"Conv1": [(0.5, 0.7)]}, (100.0, {"Conv1": [(0.5, 90.0)]}), 0))
    config = ExperimentConfig(granularity="channel", residual_blocks_removed=2,
                              sparsity_distribution="latency", sensitivity=str(path))
    with pytest.raises(ConfigError, match="measured with residual_blocks_removed=0, this run "
                                          "removes 2"):
        sensitivity_curves.curves_of(config)
    same = config.replace(residual_blocks_removed=0)
    assert sensitivity_curves.curves_of(same) == {"Conv1": [(0.5, pytest.approx(0.1),
                                                             pytest.approx(0.1))]}


def test_curves_are_checked_against_the_model_without_the_blocks(tmp_path, splits):
    base = ExperimentConfig(**SMALL, residual_blocks_removed=2)
    dense = models.build("mobilenetv2", splits.input_shape, splits.num_classes, base)
    _random_batchnorm(dense, np.random.default_rng(3))
    _, masks = structured.prepare(dense, base, CHANNELS, splits)
    kept = [g.key for g in masks.plan.groups]

    def curves(name, keys):  # every group saves 1% of the latency at 50%, for 0.1 points
        path = tmp_path / name
        path.write_text(sensitivity_curves.to_json(
            "channel", 0.5, {k: [(0.5, 0.499)] for k in keys},
            (100.0, {k: [(0.5, 99.0)] for k in keys}), 2))
        return base.replace(sparsity_distribution="latency", sensitivity=str(path),
                            initial_sparsity=0.0, final_sparsity=0.02)

    # Curves of the model without the blocks lack the removed blocks' groups: accepted
    # before training (the blocks are not chosen yet) and by the model without them.
    config = curves("without.json", kept)
    GRANULARITIES.get("channel").check(dense, config, None)
    _, masks = structured.one_shot(dense, config, 0.02, CHANNELS, splits)
    assert masks.metrics()["channel_sparsity"] > 0
    # A group the model keeps but the curves miss: refused before any training.
    with pytest.raises(ConfigError, match=f"the curves have no layer {kept[0]} "):
        structured.prepare(dense, curves("short.json", kept[1:]), CHANNELS, splits)


def test_the_sensitivity_run_says_how_to_use_its_curves():
    from pruning.studies.sensitivity import how_to_use

    assert how_to_use("abc", True, 3).startswith(
        "--sparsity-distribution sensitivity --sensitivity runs:/abc/sensitivity.json "
        "--residual-blocks-removed 3 (or")
    assert "--residual-blocks-removed" not in how_to_use("abc", False)
