"""One experiment over several seeds: exact statistics, and a parent with a child per seed
in a real MLflow store."""
import math

import pytest
from mlflow.tracking import MlflowClient

from pruning import cli
from pruning.studies import seeds
from pruning.errors import ConfigError
from tests.cli.test_cli import TINY
from pruning.cli.options import parse_seeds


@pytest.mark.fast
def test_parse():
    assert parse_seeds("0,1,2") == (0, 1, 2)
    assert parse_seeds(" 7 ") == (7,)
    assert parse_seeds("") == ()


@pytest.mark.parametrize("text,fragment", [("a", "whole numbers"), ("0,,1", "whole numbers"),
                                           ("-1", "each seed must be in 0..4294967295"),
                                           ("3,3", "listed twice")])
@pytest.mark.fast
def test_parse_refuses(text, fragment):
    with pytest.raises(ConfigError, match=fragment) as e:
        parse_seeds(text)
    assert e.value.parameter == "seeds"


@pytest.mark.fast
def test_summarize_is_mean_sample_std_and_min_of_shared_metrics():
    stats = seeds.summarize([{"a": 1.0, "b": 2.0, "sparsity/x": 0.5},
                             {"a": 3.0, "b": 2.0, "c": 5.0, "sparsity/x": 0.7}])
    assert stats == {"a_mean": 2.0, "a_std": math.sqrt(2.0), "a_min": 1.0,
                     "b_mean": 2.0, "b_std": 0.0, "b_min": 2.0}


@pytest.mark.fast
def test_summarize_of_one_seed_has_no_spread():
    assert seeds.summarize([{"a": 0.25}]) == {"a_mean": 0.25, "a_std": 0.0, "a_min": 0.25}


@pytest.mark.fast
def test_table_rows_per_seed_then_mean_and_min():
    per_seed = [{"test_accuracy": 0.98, "size_reduction": 20.0},
                {"test_accuracy": 0.99, "size_reduction": 22.0}]
    assert seeds.table((0, 1), per_seed, ["r0000000x", "r1"]).splitlines() == [
        "| seed | test_accuracy | size_reduction |", "|---|---|---|",
        "| 0 (run `r0000000`) | 0.9800 | 20.0 |", "| 1 (run `r1`) | 0.9900 | 22.0 |",
        "| mean +- std | 0.9850 +- 0.0071 | 21.0 +- 1.4 |", "| min | 0.9800 | 20.0 |"]


def test_run_over_seeds_nests_one_run_per_seed_under_a_parent(store, capsys, tmp_path):
    assert cli.main(["run", *TINY, "--seeds", "0,5", "--experiment-name", "s"]) == 0
    out = capsys.readouterr().out
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("s").experiment_id])
    parent = next(r for r in runs if r.data.tags.get("pruning.role") == "seeds")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.status == "FINISHED" and len(children) == 2
    by_seed = {int(r.data.params["seed"]): r for r in children}
    assert set(by_seed) == {0, 5} and parent.data.params["seeds"] == "0,5"
    assert "seed" not in parent.data.params
    # Seeds share nothing but the config: each has its own dense model.
    keys = {r.data.tags["pretrain_key"] for r in children}
    assert len(keys) == 2
    accuracies = [r.data.metrics["test_accuracy"] for r in children]
    m = parent.data.metrics
    assert m["test_accuracy_mean"] == pytest.approx(sum(accuracies) / 2)
    assert m["test_accuracy_min"] == pytest.approx(min(accuracies))
    assert m["test_accuracy_std"] == pytest.approx(abs(accuracies[0] - accuracies[1]) / 2 ** 0.5)
    assert "size_reduction_std" in m and "int8_latency_us_mean" in m
    text = open(client.download_artifacts(parent.info.run_id, "seeds.md", str(tmp_path))).read()
    assert f"| 5 (run `{by_seed[5].info.run_id[:8]}`)" in text and "| mean +- std |" in text
    assert "over seeds 0,5: test accuracy" in out and "seed 5: test accuracy" in out



@pytest.mark.fast
def test_run_over_seeds_registers_every_seed_and_crowns_the_best_on_validation(store, capsys):
    argv = ["run", *TINY, "--seeds", "0,1", "--experiment-name", "s", "--register-model", "m"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    client = MlflowClient()
    versions = client.search_model_versions("name='m'")
    assert sorted(v.tags["seed"] for v in versions) == ["0", "1"]
    # one dataset, two splits: comparable on validation, each seed its own split
    assert len({v.tags["dataset_digest"] for v in versions}) == 1
    assert len({v.tags["data_digest"] for v in versions}) == 2
    # strictly better moves the alias: among equals the first seed keeps it
    best = max(versions, key=lambda v: (float(v.tags["final_val_accuracy"]), -int(v.version)))
    assert client.get_model_version_by_alias("m", "champion").version == best.version
    assert "seed 0: registered as `m` version 1; alias `champion` moved to it: no champion yet" \
        in out
    runs = client.search_runs([client.get_experiment_by_name("s").experiment_id])
    parent = next(r for r in runs if r.data.tags.get("pruning.role") == "seeds")
    assert "- seed 1: registered as `m` version 2; alias `champion`" in \
        parent.data.tags["mlflow.note.content"]
