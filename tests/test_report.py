from mlflow.tracking import MlflowClient

from pruning import cli, report


def test_frontier_keeps_only_unbeaten_points():
    points = [(0.5, 0.98), (0.9, 0.97), (0.9, 0.95), (0.7, 0.96), (0.95, 0.90)]
    assert report.frontier(points) == [(0.5, 0.98), (0.9, 0.97), (0.95, 0.90)]


def test_rows_skip_runs_without_test_results():
    runs = [{"run_id": "a", "name": "x", "tags": {"model": "mlp", "dataset": "mnist"},
             "metrics": {"test_accuracy": 0.9, "sparsity": 0.5, "latency_us": 10.0}},
            {"run_id": "b", "name": "pretrain", "tags": {}, "metrics": {"loss": 0.1}}]
    rows = report.rows_of(runs)
    assert [r["run_id"] for r in rows] == ["a"] and rows[0]["group"] == "mlp/mnist"
    assert rows[0]["method"] == "gradual" and "| mlp/mnist | gradual | x |" in report.markdown(rows)


def test_report_of_a_sweep(store, tmp_path, capsys):
    assert cli.main(["sweep", "--dataset", "synthetic", "--pretrain-epochs", "1",
                     "--batch-size", "64", "--sparsities", "0,0.5,0.9", "--latency-runs", "5",
                     "--experiment-name", "cmp"]) == 0
    assert cli.main(["report", "--experiment", "cmp", "--out", str(tmp_path / "r")]) == 0
    text = (tmp_path / "r" / "report.md").read_text()
    assert text.count("| mlp/synthetic |") == 9
    assert (tmp_path / "r" / "accuracy_frontier.png").stat().st_size > 0
    assert cli.main(["report", "--experiment", "cmp"]) == 0
    runs = MlflowClient().search_runs(
        [MlflowClient().get_experiment_by_name("cmp").experiment_id],
        "tags.`pruning.role` = 'report'")
    assert len(runs) == 1
    assert cli.main(["report", "--experiment", "nope"]) == cli.EXIT_BAD_INPUT
    assert "no experiment named 'nope'" in capsys.readouterr().err
