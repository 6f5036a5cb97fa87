"""Sensitivity analysis: the pure allocation (exact values), the curves file, a tracked
analysis at weight and channel granularity, and a run pruned by its curves."""
import json

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pruning import cli
from pruning.data import splits as data
from pruning.sparsity import distributions
from pruning.models import builtin as models
from pruning.sparsity import curves as sensitivity_curves
from pruning.config import ExperimentConfig
from pruning.errors import ConfigError

from tests.cli.test_cli import TINY
from pruning.granularity.channels.probe import ChannelProbe

# Layer a: 100 weights, loses 1 point at 50%, 5 at 90%; b: 300 weights, 2 and 10.
SHAPES = {"a": (10, 10), "b": (10, 30)}
CURVES = {"a": [(0.5, 0.01), (0.9, 0.05)], "b": [(0.5, 0.02), (0.9, 0.10)]}


@pytest.mark.parametrize("target, a, b", [
    (0.3125, 0.5, 0.25),  # tolerance 1 point: a at its 50%, b halfway to its 50%
    (0.5875, 0.7, 0.55),  # tolerance 3 points: a 0.5 + 0.4 * 2/4, b 0.5 + 0.4 * 1/8
    (0.9, 0.9, 0.9),  # everything measured
    (0.0, 0.0, 0.0),
])
def test_one_tolerance_for_all_layers_hits_the_target(target, a, b):
    s = distributions.sensitivity(SHAPES, target, CURVES)
    assert s["a"] == pytest.approx(a, abs=1e-6) and s["b"] == pytest.approx(b, abs=1e-6)
    assert (100 * s["a"] + 300 * s["b"]) / 400 == pytest.approx(target, abs=1e-9)


def test_a_drop_counts_from_the_first_sparsity_that_hurt():
    # b recovers at 90% (noise), but 50% already cost 2 points: the envelope keeps 2.
    curves = {"a": CURVES["a"], "b": [(0.5, 0.02), (0.9, 0.01)]}
    s = distributions.sensitivity(SHAPES, 0.3125, curves)
    assert s["a"] == pytest.approx(0.5, abs=1e-6) and s["b"] == pytest.approx(0.25, abs=1e-6)


def test_a_layer_that_never_hurts_goes_first():
    curves = {"a": [(0.5, -0.001), (0.9, 0.0)], "b": CURVES["b"]}
    s = distributions.sensitivity(SHAPES, 0.3, curves)
    assert s["a"] == pytest.approx(0.9, abs=1e-6)
    assert s["b"] == pytest.approx((0.3 * 400 - 90) / 300, abs=1e-6)


def test_layer_sparsities_are_monotone_from_initial_to_final():
    out = distributions.layer_sparsities("sensitivity", SHAPES, 0.3125, 0.5875, CURVES)
    assert out["a"] == pytest.approx((0.5, 0.7), abs=1e-6)
    assert out["b"] == pytest.approx((0.25, 0.55), abs=1e-6)


@pytest.mark.parametrize("curves, fragment", [
    ({"a": CURVES["a"]}, "the curves have no layer b (they cover a)"),
    (CURVES, "the curves reach at most 0.9000 model-wide"),
])
def test_curves_that_cannot_serve_are_refused(curves, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        distributions.sensitivity(SHAPES, 0.95, curves)


def test_the_file_round_trips_and_names_what_is_wrong(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(sensitivity_curves.to_json("weight", 0.9, {"a": [(0.5, 0.89)]}))
    document = sensitivity_curves.load(str(path))
    assert sensitivity_curves.drops(document) == {"a": [(0.5, pytest.approx(0.01))]}
    config = ExperimentConfig(sparsity_distribution="sensitivity", sensitivity=str(path),
                              granularity="channel", model="cnn")
    with pytest.raises(ConfigError, match="measured at granularity=weight, this run prunes "
                                          "at granularity=channel"):
        sensitivity_curves.curves_of(config)
    (tmp_path / "bad.json").write_text("{}")
    for source, fragment in ((str(tmp_path / "bad.json"), "is not the sensitivity.json"),
                             (str(tmp_path / "none.json"), "cannot read")):
        with pytest.raises(ConfigError, match=fragment) as e:
            sensitivity_curves.load(source)
        assert e.value.parameter == "sensitivity"
    with pytest.raises(ConfigError, match="needs the curves of a `pruning sensitivity` run"):
        ExperimentConfig(sparsity_distribution="sensitivity")


def test_channel_probe_prunes_one_group_and_restores_it():
    splits = data.load("synthetic", "", 0.1, 0)
    config = ExperimentConfig(dataset="synthetic", model="cnn", granularity="channel",
                              channel_multiple=1)
    dense = models.build("cnn", splits.input_shape, splits.num_classes, config)
    probe = ChannelProbe(dense, config, ("Conv2D", "Dense"))
    first = next(iter(probe.units))
    probe.prune(first, 0.5)
    kernel = probe.model.get_layer(first).kernel.numpy()
    assert (~kernel.any(axis=(0, 1, 2))).sum() == probe.units[first][-1] // 2
    others = [k for k in probe.units if k != first]
    assert all(probe.model.get_layer(k).kernel.numpy().any(axis=tuple(range(
        probe.model.get_layer(k).kernel.shape.rank - 1))).all() for k in others)
    probe.restore(first)
    np.testing.assert_array_equal(probe.model.get_layer(first).kernel.numpy(),
                                  dense.get_layer(first).kernel.numpy())


def test_analysis_run_logs_curves_and_a_run_prunes_by_them(store, capsys):
    argv = [*TINY, "--experiment-name", "sens"]
    assert cli.main(["sensitivity", *argv, "--sparsities", "0.9,0.5"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "[pretrain 1/1]" in captured.err  # the dense epochs are not silent
    client = MlflowClient()
    (run,) = client.search_runs([client.get_experiment_by_name("sens").experiment_id],
                                "tags.`pruning.role` = 'sensitivity'")
    run_id = run.info.run_id
    document = json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/sensitivity.json"))
    assert document["granularity"] == "weight"
    assert set(document["layers"]) == {"fc1", "fc2"}  # the output layer is not pruned
    assert [s for s, _ in document["layers"]["fc1"]] == [0.5, 0.9]
    history = client.get_metric_history(run_id, "sensitivity/fc1")
    assert [(m.step, m.value) for m in history] == [
        (50, document["layers"]["fc1"][0][1]), (90, document["layers"]["fc1"][1][1])]
    assert run.data.metrics["baseline_val_accuracy"] == document["baseline_val_accuracy"]
    artifacts = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert artifacts == {"plots/sensitivity_curves.png", "plots/sensitivity_heatmap.png"}
    assert f"--sensitivity runs:/{run_id}/sensitivity.json" in out and "add to this model" in out

    assert cli.main(["run", *argv, "--sparsity-distribution", "sensitivity", "--sensitivity",
                     f"runs:/{run_id}/sensitivity.json", "--final-sparsity", "0.7",
                     "--initial-sparsity", "0.3"]) == 0
    (pruned,) = client.search_runs([client.get_experiment_by_name("sens").experiment_id],
                                   "params.sparsity_distribution = 'sensitivity'")
    m = pruned.data.metrics
    assert m["sparsity"] == pytest.approx(0.7, abs=0.01)
    expected = distributions.sensitivity(
        {"fc1": (200, 300), "fc2": (300, 100)}, 0.7,
        sensitivity_curves.drops(document))  # the synthetic mlp's kernels
    for layer, s in expected.items():
        assert m[f"sparsity/{layer}"] == pytest.approx(s, abs=0.01)


def test_curves_of_another_model_are_refused_before_any_run(store, tmp_path, capsys):
    path = tmp_path / "s.json"
    path.write_text(sensitivity_curves.to_json("weight", 0.9, {"conv": [(0.5, 0.8)]}))
    assert cli.main(["run", *TINY, "--sparsity-distribution", "sensitivity", "--sensitivity",
                     str(path)]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    # Known only once the model is built (after the first line, "loading TensorFlow").
    assert len(err) == 2 and err[1].startswith("pruning: error: sensitivity: the curves have "
                                               "no layer fc1, fc2 (they cover conv)")
    assert MlflowClient().search_runs(["0"]) == []
