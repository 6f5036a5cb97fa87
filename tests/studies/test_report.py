from mlflow.tracking import MlflowClient

from pruning import cli
from pruning.studies import report


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
    assert "| 0.500 | 0.9000 |" in report.markdown(rows)  # rounded alike, column by column
    assert rows[0]["shipped_latency_us"] == 10.0  # no int8 or shrunk model: the float one


def test_the_table_compares_int8_with_int8_and_float_with_float():
    metrics = {"test_accuracy": 0.98765, "sparsity": 0.9, "dense_latency_us": 10.04,
               "latency_us": 9.96, "dense_int8_latency_us": 3.0, "int8_latency_us": 2.5,
               "tflite_int8_bytes_gzip": 46080.0}
    rows = report.rows_of([{"run_id": "a", "name": "r", "tags": {}, "metrics": metrics}])
    header, _, row = report.markdown(rows).splitlines()
    assert header == ("| group | method | run | sparsity | test acc | int8 gz KB | "
                      "float us (dense) | float us | int8 us (dense) | int8 us |")
    assert row == "| ?/? | gradual | r | 0.900 | 0.9877 | 45 | 10.0 | 10.0 | 3.0 | 2.5 |"


def test_rows_ship_the_cheapest_model_and_label_finetuning():
    tags = {"model": "mlp", "dataset": "mnist", "method": "unit", "finetune_epochs": "5"}
    metrics = {"test_accuracy": 0.9, "sparsity": 0.5, "latency_us": 10.0,
               "int8_latency_us": 4.0, "tflite_int8_bytes_gzip": 900.0,
               "shrunk_latency_us": 3.0, "shrunk_tflite_bytes": 5000.0}
    (row,) = report.rows_of([{"run_id": "a", "name": "u", "tags": tags, "metrics": metrics}])
    assert row["method"] == "unit+finetune"
    assert (row["shipped_latency_us"], row["shipped_bytes"]) == (3.0, 5000.0)
    del metrics["shrunk_latency_us"]
    (row,) = report.rows_of([{"run_id": "a", "name": "u", "tags": tags, "metrics": metrics}])
    assert (row["shipped_latency_us"], row["shipped_bytes"]) == (4.0, 900.0)


def test_report_of_a_sweep(store, tmp_path, capsys):
    assert cli.main(["sweep", "--dataset", "synthetic", "--pretrain-epochs", "1",
                     "--batch-size", "64", "--sparsities", "0,0.5,0.9", "--latency-runs", "5",
                     "--latency-window", "0",
                     "--experiment-name", "cmp", "--register-model", "swept"]) == 0
    # the sweep's best point is logged as a model and registered
    (version,) = MlflowClient().search_model_versions("name='swept'")
    parent = MlflowClient().get_run(version.run_id).data.tags["mlflow.parentRunId"]
    assert MlflowClient().get_run(parent).data.tags["best_point_run_id"] == version.run_id
    assert "sparsity" in version.tags and "test_accuracy" in version.tags
    assert cli.main(["report", "--experiment", "cmp", "--out", str(tmp_path / "r")]) == 0
    text = (tmp_path / "r" / "report.md").read_text()
    assert text.count("| mlp/synthetic |") == 9
    assert (tmp_path / "r" / "accuracy_frontier.png").stat().st_size > 0
    assert (tmp_path / "r" / "accuracy_vs_cost.png").stat().st_size > 0  # unit: shrunk
    capsys.readouterr()
    assert cli.main(["report"]) == 0  # the experiment this package wrote to last
    out = capsys.readouterr().out
    assert "report of 9 runs of experiment 'cmp'" in out
    assert out.count("| mlp/synthetic |") == 9  # the table, in the terminal
    header = out.splitlines()[1]
    assert "rebuilt us" in header and "speed-up" in header  # the unit points' cut models
    runs = MlflowClient().search_runs(
        [MlflowClient().get_experiment_by_name("cmp").experiment_id],
        "tags.`pruning.role` = 'report'")
    assert len(runs) == 1
    assert cli.main(["report", "--experiment", "nope"]) == cli.EXIT_BAD_INPUT
    assert "no experiment named 'nope'" in capsys.readouterr().err
