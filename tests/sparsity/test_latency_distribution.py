"""The `latency` distribution: latency bought where it costs least accuracy (exact
values), and a timed channel analysis whose curves a run prunes by."""
import json

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from pruning import cli
from pruning.console import percent
from pruning.sparsity import distributions
from pruning.sparsity import curves as sensitivity_curves
from pruning.config import ExperimentConfig
from pruning.errors import ConfigError

from tests.cli.test_cli import TINY

SHAPES = {"stem": (3, 3, 3, 16), "late": (1, 1, 64, 256), "mid": (1, 1, 32, 96)}
# (sparsity, accuracy drop, share of the dense latency saved), each group pruned alone.
# stem: dear in accuracy, saves little; late: free but saves little; mid: the speed.
CURVES = {"stem": [(0.5, 0.30, 0.02), (0.8, 0.60, 0.03)],
          "late": [(0.5, 0.00, 0.05), (0.8, 0.001, 0.08)],
          "mid": [(0.5, 0.02, 0.20), (0.8, 0.10, 0.35)]}


@pytest.mark.parametrize("target, expected", [
    (0.0, {"stem": 0.0, "late": 0.0, "mid": 0.0}),
    (0.05, {"stem": 0.0, "late": 0.5, "mid": 0.0}),  # free: taken at price 0
    (0.08, {"stem": 0.0, "late": 0.8, "mid": 0.0}),  # 0.001 for 0.03 more
    (0.25, {"stem": 0.0, "late": 0.8, "mid": 0.5}),  # 0.02 for 0.20: price 0.1
    (0.43, {"stem": 0.0, "late": 0.8, "mid": 0.8}),  # 0.08 for 0.15: price 0.53
    (0.46, {"stem": 0.8, "late": 0.8, "mid": 0.8}),  # the stem last: 0.60 for 0.03
])
def test_latency_is_bought_where_it_costs_least_accuracy(target, expected):
    assert distributions.latency(SHAPES, target, CURVES) == expected


def test_weights_do_not_count_and_the_choice_only_grows():
    # The stem's few weights would make `sensitivity` prune it no later than `late`.
    pairs = distributions.layer_sparsities("latency", SHAPES, 0.05, 0.25, CURVES)
    assert pairs == {"stem": (0.0, 0.0), "late": (0.5, 0.8), "mid": (0.0, 0.5)}


def test_timing_noise_does_not_make_a_deeper_cut_look_slower():
    noisy = {"g": [(0.5, 0.01, 0.10), (0.8, 0.02, 0.09)]}  # 0.8 timed 1 point slower
    assert distributions.latency({"g": (1, 1, 4, 8)}, 0.10, noisy) == {"g": 0.5}
    assert distributions._priced(noisy["g"])[-1] == (0.8, 0.02, 0.10)


def test_more_than_the_groups_save_is_refused():
    with pytest.raises(ConfigError, match=r"save at most 0\.4600 of the latency together, "
                                          r"below the requested 0\.5"):
        distributions.latency(SHAPES, 0.5, CURVES)


def test_the_latency_distribution_needs_structured_pruning_and_timed_curves(tmp_path):
    with pytest.raises(ConfigError, match="latency needs granularity unit or channel"):
        ExperimentConfig(sparsity_distribution="latency", sensitivity="s.json")
    with pytest.raises(ConfigError, match="sparsity_distribution=latency needs the curves"):
        ExperimentConfig(sparsity_distribution="latency", granularity="channel")
    path = tmp_path / "s.json"
    path.write_text(sensitivity_curves.to_json("channel", 0.9, {"conv": [(0.5, 0.8)]}))
    config = ExperimentConfig(sparsity_distribution="latency", granularity="channel",
                              sensitivity=str(path))
    with pytest.raises(ConfigError, match="has no latencies; measure them with `pruning "
                                          "sensitivity --latency`"):
        sensitivity_curves.curves_of(config)
    path.write_text(sensitivity_curves.to_json("channel", 0.9, {"conv": [(0.5, 0.8)]},
                                               (200.0, {"conv": [(0.5, 150.0)]})))
    sensitivity_curves.load.cache_clear()
    assert sensitivity_curves.curves_of(config) == {
        "conv": [(0.5, pytest.approx(0.1), 0.25)]}


def test_timing_a_weight_analysis_is_refused(store, capsys):
    assert cli.main(["sensitivity", *TINY, "--latency"]) == cli.EXIT_BAD_INPUT
    assert "latency: timing needs granularity unit or channel" in capsys.readouterr().err
    assert MlflowClient().search_runs(["0"]) == []


def test_a_timed_channel_analysis_feeds_a_run_pruned_for_latency(store, capsys):
    argv = [*TINY, "--model", "cnn", "--granularity", "channel", "--channel-multiple", "1",
            "--experiment-name", "lat"]
    assert cli.main(["sensitivity", *argv, "--sparsities", "0.5,0.75", "--latency"]) == 0
    out = capsys.readouterr().out
    client = MlflowClient()
    (run,) = client.search_runs([client.get_experiment_by_name("lat").experiment_id],
                                "tags.`pruning.role` = 'sensitivity'")
    run_id = run.info.run_id
    document = json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/sensitivity.json"))
    base = document["baseline_latency_us"]
    assert run.data.metrics["dense_int8_latency_us"] == base > 0
    assert set(document["latency_us"]) == set(document["layers"])
    for name, points in document["latency_us"].items():
        assert [s for s, _ in points] == [0.5, 0.75]
        history = client.get_metric_history(run_id, f"latency_us/{name}")
        assert [(m.step, m.value) for m in history] == [(50, points[0][1]),
                                                       (75, points[1][1])]
    assert "--sparsity-distribution latency" in out
    assert "plots/sensitivity_latency.png" in {
        a.path for a in client.list_artifacts(run_id, "plots")}
    assert "latency saved, in microseconds" in mlflow.artifacts.load_text(
        f"runs:/{run_id}/sensitivity.md")

    savings = sensitivity_curves.with_savings(document)
    most = sum(max(t for _, _, t in c) for c in savings.values())
    target = round(most * 0.6, 3)
    assert cli.main(["run", *argv, "--sparsity-distribution", "latency", "--sensitivity",
                     f"runs:/{run_id}/sensitivity.json", "--initial-sparsity", "0",
                     "--final-sparsity", str(target)]) == 0
    err = capsys.readouterr().err
    assert f"0% -> {percent(target)} of the dense int8 latency (" in err
    assert f"(latency share targeted {target:.3f})" in err  # not a share of channels
    (pruned,) = client.search_runs([client.get_experiment_by_name("lat").experiment_id],
                                   "params.sparsity_distribution = 'latency'")
    expected = distributions.latency({name: () for name in savings}, target, savings)
    for group, s in expected.items():
        kept = pruned.data.metrics[f"channel_sparsity/{group}"]
        assert kept == pytest.approx(s, abs=0.05)
    assert any(s > 0 for s in expected.values())
    note = pruned.data.tags["mlflow.note.content"]
    assert (f"whole channels removed, polynomial_decay 0% -> {percent(target)} of the dense int8 "
            "latency (as the curves' groups pruned alone add up)") in note


def test_the_table_shows_the_microseconds_each_cut_saved():
    from pruning.studies import sensitivity

    text = sensitivity.table(0.9, {"g": [(0.5, 0.88), (0.8, 0.8)]},
                             (150.0, {"g": [(0.5, 140.0), (0.8, 120.5)]}))
    assert text.splitlines() == [
        "| layer | 50% | 80% |", "|---|---|---|", "| g | +2.00 | +10.00 |", "",
        "Batch-1 int8 latency saved, in microseconds (dense model 150.0 us):", "",
        "| layer | 50% | 80% |", "|---|---|---|", "| g | 10.0 | 29.5 |"]
