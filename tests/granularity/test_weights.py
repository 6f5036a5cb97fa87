"""The deployment options: M-by-N, the XNNPACK policy, sparse TFLite, pruning-preserving QAT."""
import numpy as np
import pytest
import tf_keras as keras
from mlflow.tracking import MlflowClient

from pruning import cli
from pruning.experiment import describe
from pruning.experiment import pipeline
from pruning.models import builtin as models
from pruning.sparsity import schedules
from pruning.config import ExperimentConfig
from pruning.errors import ConfigError
from pruning.sparsity import policies
from pruning.granularity import tfmot_pruning

SMALL = dict(dataset="synthetic", pretrain_epochs=1, retrain_epochs=2, batch_size=64,
             frequency=1, latency_runs=5, latency_window=0, calibration_samples=16)


def test_m_by_n_keeps_at_most_m_of_every_n_inputs():
    result = pipeline.run(ExperimentConfig(**SMALL, sparsity_m_by_n="2,4"), tracking=False)
    for name in ("fc1", "fc2"):
        kernel = result.pruned_model.get_layer(name).kernel.numpy()  # (inputs, units)
        groups = kernel.T.reshape(kernel.shape[1], -1, 4)  # 4 consecutive inputs of a unit
        assert ((groups != 0).sum(axis=-1) <= 2).all()
    assert result.metrics["sparsity"] == pytest.approx(0.5)
    assert result.history[-1]["target_sparsity"] == 0.5


@pytest.mark.parametrize("spelling", ["2", "4,2", "2,2", "a,b", "0,4", "1,2,3"])
def test_m_by_n_spellings_are_checked(spelling):
    with pytest.raises(ConfigError, match="sparsity_m_by_n=.*0 < M < N"):
        ExperimentConfig(sparsity_m_by_n=spelling)


def test_m_by_n_replaces_the_schedule_targets():
    assert ExperimentConfig(sparsity_m_by_n="1,4").sparsity_targets() == (0.25, 0.25)
    assert ExperimentConfig(final_sparsity=0.8).sparsity_targets() == (0.5, 0.8)


@pytest.mark.parametrize("distribution", ["uniform", "erk"])
def test_blocks_are_kept_or_pruned_whole(distribution):
    config = ExperimentConfig(**SMALL, sparsity_block="4,1", final_sparsity=0.75,
                              sparsity_distribution=distribution)
    result = pipeline.run(config, tracking=False)
    for name in ("fc1", "fc2"):
        kernel = result.pruned_model.get_layer(name).kernel.numpy()  # (inputs, units)
        blocks = (kernel.T.reshape(kernel.shape[1], -1, 4) != 0).sum(axis=-1)
        assert set(np.unique(blocks)) <= {0, 4}  # 4 consecutive inputs of a unit: all or none
        assert (blocks == 0).any()
    assert result.metrics["sparsity"] == pytest.approx(0.75, abs=0.02)


@pytest.mark.fast
def test_blocks_are_in_the_run_name():
    config = ExperimentConfig(sparsity_block="4,1", final_sparsity=0.973, clusters=8)
    assert describe.run_name(config) == "mlp-mnist-50%to97.3%-b4x1-c8"


@pytest.mark.parametrize("given, message", [
    (dict(sparsity_block="4"), "must be R,C with whole numbers >= 1"),
    (dict(sparsity_block="0,1"), "must be R,C with whole numbers >= 1"),
    (dict(sparsity_block="4,1", sparsity_m_by_n="2,4"), "in blocks or M-by-N, not both"),
    (dict(sparsity_block="4,1", granularity="unit"), "needs granularity=weight, not 'unit'"),
])
def test_block_spellings_are_checked(given, message):
    with pytest.raises(ConfigError, match=message):
        ExperimentConfig(**given)


@pytest.mark.fast
@pytest.mark.parametrize("argv, message", [
    (["sweep", "--methods", "gradual,weight"], "methods weight prune single weights at once"),
    (["sensitivity"], "a sensitivity analysis prunes single weights at once"),
])
def test_blocks_are_refused_where_pruning_is_at_once(argv, message, capsys):
    argv = [*argv, "--dataset", "synthetic", "--sparsity-block", "4,1"]
    assert cli.main(argv) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sparsity_block='4,1'" in err[0] and message in err[0]


def test_xnnpack_layout_matches_keras_mobilenetv2():
    config = ExperimentConfig(model="mobilenetv2", alpha=0.35, input_size=64)
    stock = models.build("mobilenetv2", (32, 32, 3), 10, config)
    ours = models.build("mobilenetv2_xnnpack", (32, 32, 3), 10, config)
    assert ours.count_params() == stock.count_params()
    shapes = lambda m: [l.output_shape for l in m.layers  # noqa: E731
                        if isinstance(l, keras.layers.DepthwiseConv2D)]
    assert shapes(ours) == shapes(stock)


@pytest.mark.parametrize("model,policy,stem", [("mobilenetv2_xnnpack", "xnnpack", "stem"),
                                               ("mobilenetv2", "pointwise", "Conv1")])
def test_pointwise_policies_prune_only_1x1_convs(model, policy, stem):
    config = ExperimentConfig(model=model, alpha=0.35, input_size=32, pruning_policy=policy,
                              frequency=1)
    dense = models.build(config.model, (20, 10, 1), 10, config)
    wrapped = tfmot_pruning.wrap_for_pruning(dense, config, schedules.Window(0, 10, 1, 20))
    pruned = {w.layer.name for w in tfmot_pruning.pruned_wrappers(wrapped)}
    pointwise = {l.name for l in dense.layers if type(l) is keras.layers.Conv2D
                 and l.kernel_size == (1, 1)}
    assert pruned == pointwise and stem not in pruned and "output" not in pruned
    assert set(policies.prunable_kernels(dense, config)) == pointwise


def test_xnnpack_policy_on_a_model_it_cannot_run_is_refused_before_training():
    config = ExperimentConfig(**SMALL, model="mobilenetv2", alpha=0.35, input_size=32,
                              pruning_policy="xnnpack")
    with pytest.raises(ConfigError, match="mobilenetv2_xnnpack or pruning_policy=all") as info:
        pipeline.prepare(config)
    assert info.value.parameter == "pruning_policy"


def test_bad_option_exits_2_and_leaves_no_run(store, capsys):
    argv = ["run", "--dataset", "synthetic", "--pruning-policy", "xnnpack", "--frequency", "1"]
    assert cli.main(argv) == cli.EXIT_BAD_INPUT
    assert "pruning_policy='xnnpack' cannot prune model=mlp" in capsys.readouterr().err
    client = MlflowClient()
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []


def test_sparse_tflite_and_qat_are_measured_and_logged(store):
    config = ExperimentConfig(**SMALL, qat_epochs=1, tflite_sparse=True)
    result = pipeline.run(config, experiment_name="options")
    run = MlflowClient().get_run(result.run_id)
    m = run.data.metrics
    assert m["tflite_sparse_bytes"] < m["tflite_bytes"] / 3  # 90% of the weights not stored
    assert m["qat_sparsity"] == pytest.approx(m["sparsity"])  # QAT kept the zeros
    for name in ("tflite_sparse", "tflite_qat_int8"):
        assert m[f"{name}_latency_us"] > 0 and 0 <= m[f"{name}_test_accuracy"] <= 1
    assert m["tflite_qat_int8_bytes"] < m["tflite_bytes"] / 2
    history = MlflowClient().get_metric_history(result.run_id, "qat_val_accuracy")
    assert [h.step for h in history] == [config.pretrain_epochs + config.retrain_epochs]
    note = run.data.tags["mlflow.note.content"]
    assert "sparse-storage TFLite" in note and "pruning-preserving QAT" in note
    assert ("no speed-up" in note) or ("faster than dense" in note)


def test_speed_is_said_plainly():
    assert describe._speed({"dense_latency_us": 10.0, "x": 9.8}, "x").startswith(
        "no speed-up (1.02x")
    assert describe._speed({"dense_latency_us": 10.0, "x": 4.0}, "x") == \
        "2.5x faster than dense"
    assert describe._speed({"dense_int8_latency_us": 3.4, "x": 3.4}, "x",
                           "dense_int8_latency_us", "dense int8") == \
        "no speed-up (1.00x the dense int8 speed)"


def test_cli_run_with_qat_reports_each_phase(store, capsys):
    argv = ["run", "--dataset", "synthetic", "--pretrain-epochs", "1", "--retrain-epochs", "1",
            "--frequency", "1", "--batch-size", "64", "--latency-runs", "5",
            "--latency-window", "0",
            "--calibration-samples", "16", "--qat-epochs", "1"]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    for line in ("[pretrain 1/1] loss", "[retrain 1/1] loss", "[qat 1/1] loss"):
        assert line in err


def test_erk_run_prunes_each_layer_to_its_share_and_the_model_to_the_target():
    config = ExperimentConfig(**{**SMALL, "retrain_epochs": 3}, sparsity_distribution="erk")
    result = pipeline.run(config, tracking=False)
    kernels = policies.prunable_kernels(result.pruned_model, config)
    targets = tfmot_pruning.layer_targets(result.pruned_model, config)
    assert set(targets) == {"fc1", "fc2"}
    assert targets["fc1"][1] > 0.9 > targets["fc2"][1]  # fc1 is the larger layer
    for name, kernel in kernels.items():
        assert np.mean(kernel == 0) == pytest.approx(targets[name][1], abs=1 / kernel.size)
    assert result.metrics["sparsity"] == pytest.approx(0.9, abs=1e-3)
    assert result.history[-1]["target_sparsity"] == pytest.approx(0.9)


def test_erk_wraps_every_policy_layer_even_one_it_leaves_dense():
    config = ExperimentConfig(dataset="synthetic", initial_sparsity=0.0, final_sparsity=0.0,
                              sparsity_distribution="erk")
    dense = models.build(config.model, (20, 10, 1), 10, config)
    wrapped = tfmot_pruning.wrap_for_pruning(dense, config, schedules.Window(0, 10, 1, 20))
    assert tfmot_pruning.layer_targets(dense, config) == {"fc1": (0.0, 0.0), "fc2": (0.0, 0.0)}
    assert set(tfmot_pruning.current_masks(wrapped)) == {"fc1", "fc2"}
