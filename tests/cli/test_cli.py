"""The command line and `mlflow run` against real temporary stores."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from pruning import cli, tracking
from pruning.cli import mlproject, reference
from pruning.config import ExperimentConfig
from pruning.studies.configs import SweepConfig, TuneConfig

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--dataset", "synthetic", "--pretrain-epochs", "1", "--retrain-epochs", "2",
        "--frequency", "1", "--batch-size", "64", "--latency-runs", "5", "--latency-window", "0",
        "--calibration-samples", "16"]


def _all_runs():
    client = MlflowClient()
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


@pytest.mark.parametrize("argv,fragment", [
    (["--final-sparsity", "1.5"], "final_sparsity=1.5 is outside [0, 1)"),
    (["--final-sparsity", "0.3"], "final_sparsity=0.3 is below initial_sparsity=0.5"),
    (["--begin-step", "5", "--end-step", "5"], "end_step=5 must be greater than begin_step=5"),
    (["--retrain-epochs", "0"], "retrain_epochs=0 must be >= 1"),
    (["--dataset", "imagenet"], "unknown dataset 'imagenet'; choose one of:"),
    (["--model", "resnet"], "unknown model 'resnet'; choose one of: cnn, mlp, mlp_large"),
    (["--model", "/nonexistent/m.keras"], "model='/nonexistent/m.keras': no such file"),
    (["--dataset", "/nonexistent/d.npz"], "dataset='/nonexistent/d.npz': no such file"),
    (["--dataset", "mnist", "--data-dir", "/nonexistent"], "--data-dir"),
    (["--frequency", "1000"], "frequency=1000 leaves no mask update"),
    (["--end-step", "100000", "--begin-step", "0", "--frequency", "1"], "past the last"),
    (["--config", "/nonexistent.toml"], "config: cannot read"),
    (["--batch-size", str(10**20)], "batch_size=100000000000000000000 is too large"),
    (["--batch-size", str(10**6)], "is larger than the 576 training samples"),
    (["--seed", str(2**64)], "seed=18446744073709551616 is too large"),
    (["--val-fraction", "0.0001"], "val_fraction=0.0001 holds out no sample"),
    (["--experiment-name", ""], "experiment name cannot be empty"),
    (["--recipe", "nope"], "unknown recipe 'nope'"),
    (["--seeds", "0,x"], "seeds='0,x': give whole numbers separated by commas"),
    (["--seeds", "1,1"], "seeds='1,1': a seed is listed twice"),
])
@pytest.mark.fast
def test_bad_input_exits_2_with_one_message_and_no_run(store, capsys, argv, fragment):
    given = dict(zip(TINY[::2], TINY[1::2])) | dict(zip(argv[::2], argv[1::2]))
    assert cli.main(["run", *[x for pair in given.items() for x in pair]]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pruning: error:") and fragment in err[0]
    assert _all_runs() == []


@pytest.mark.fast
@pytest.mark.parametrize("uri", ["http://127.0.0.1:9", "nosuchscheme://x"])
def test_unusable_tracking_uri_exits_2(store, capsys, uri):
    assert cli.main(["run", *TINY, "--tracking-uri", uri]) == cli.EXIT_BAD_INPUT
    assert f"tracking URI '{uri}' is unusable" in capsys.readouterr().err


def test_a_servers_database_as_tracking_uri_exits_2_in_one_line(store, capsys, tmp_path):
    uri = f"sqlite:///{tmp_path / 'server.db'}"
    tracking.check_store("x", uri)
    MlflowClient(uri).create_experiment("team", artifact_location="mlflow-artifacts:/1")
    capsys.readouterr()
    assert cli.main(["run", *TINY, "--tracking-uri", uri]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()  # the announcement, then the error
    assert len(err) == 2 and err[1].startswith("pruning: error:") and \
        "database of an MLflow server" in err[1]
    assert [r for r in MlflowClient(uri).search_runs(
        [e.experiment_id for e in MlflowClient(uri).search_experiments()])] == []


@pytest.mark.fast
def test_config_file_then_flags(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(ExperimentConfig(model="cnn", final_sparsity=0.8, seed=3).to_toml())
    args = cli.build_parser().parse_args(["run", "--config", str(path), "--seed", "7"])
    config = cli.config_from_args(args)
    assert (config.model, config.final_sparsity, config.seed) == ("cnn", 0.8, 7)


@pytest.mark.fast
def test_help_explains_every_parameter(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    out = capsys.readouterr().out
    for name in ExperimentConfig.__dataclass_fields__:
        assert f"--{name.replace('_', '-')}" in out


@pytest.mark.fast
def test_the_parameter_reference_is_generated_from_the_config():
    assert (ROOT / "docs" / "reference.md").read_text() == reference.render(), \
        "stale: python -m pruning.cli.reference > docs/reference.md"
    text = reference.render()
    for cls in (ExperimentConfig, TuneConfig, SweepConfig):
        for name in cls.__dataclass_fields__:
            assert f"| `{name}` |" in text


@pytest.mark.fast
def test_mlproject_is_generated_from_the_config():
    assert (ROOT / "MLproject").read_text() == mlproject.render()
    spec = yaml.safe_load(mlproject.render())
    # No declared parameter: mlflow run would pass its default and override a recipe.
    for entry, command in (("main", "run"), ("tune", "tune"), ("sweep", "sweep")):
        assert spec["entry_points"][entry] == {"command": f"python -m pruning {command}"}
    for cls in (ExperimentConfig, TuneConfig, SweepConfig):
        for name in cls.__dataclass_fields__:
            assert f"#   {name} = " in mlproject.render(), name


@pytest.mark.fast
def test_underscored_flags_as_mlflow_run_passes_them():
    args = cli.build_parser().parse_args(cli.dashes(["run", "--final_sparsity", "0.8",
                                                      "--data_dir=/x"]))
    assert (args.final_sparsity, args.data_dir) == ("0.8", "/x")


def _env(store_uri):
    env = {**os.environ, "MLFLOW_TRACKING_URI": store_uri}
    for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(var, None)  # mlflow.set_experiment exports the experiment for children
    return env


def mlflow_run(store_uri, cwd, *params: str):
    """`mlflow run` of this project with `-P` params; returns the experiment run."""
    done = subprocess.run(["mlflow", "run", str(ROOT), "--env-manager", "local",
                           *[x for p in params for x in ("-P", p)]],
                          env=_env(store_uri), cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient()
    (run,) = [r for r in client.search_runs([e.experiment_id for e in
                                             client.search_experiments()])
              if r.data.tags.get("pruning.role") == "experiment"]
    return run


def test_cli_process_run_then_reproduce_from_config(store, tmp_path):
    done = subprocess.run([sys.executable, "-m", "pruning", "run", *TINY,
                           "--experiment-name", "cli"], env=_env(store), cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "[retrain 2/2]" in done.stderr and "test accuracy" in done.stdout
    # The terminal holds the package's own lines only: no TensorFlow banner, no cuInit
    # "error", no converter or library warnings.
    for line in done.stderr.splitlines():
        assert line.startswith(("pruning run:", "[")), line
    assert "error" not in done.stderr.lower()
    # and ends with how to see the run: the exact `mlflow ui` command and the page's URL
    last = done.stdout.strip().splitlines()[-1]
    assert f"mlflow ui --backend-store-uri {store}" in last
    assert "/runs/" in last and last.endswith("?workflowType=machine_learning")
    (run,) = [r for r in _all_runs() if r.data.tags["pruning.role"] == "experiment"]
    config_json = MlflowClient().download_artifacts(run.info.run_id, "config.json", str(tmp_path))
    again = subprocess.run([sys.executable, "-m", "pruning", "run", "--config", config_json,
                            "--experiment-name", "cli"], env=_env(store), cwd=tmp_path,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    runs = [r for r in _all_runs() if r.data.tags["pruning.role"] == "experiment"]
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    assert {r.data.tags["pretrain_cached"] for r in runs} == {"true", "false"}
    assert len({r.data.params["resolved_end_step"] for r in runs}) == 1


def test_mlflow_run_entry_point(store, tmp_path):
    params = [x for flag, value in zip(TINY[::2], TINY[1::2])
              for x in ("-P", f"{flag[2:].replace('-', '_')}={value}")]
    done = subprocess.run(["mlflow", "run", str(ROOT), "--env-manager", "local",
                           "--experiment-name", "mlproject", *params],
                          env=_env(store), cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = {r.data.tags["pruning.role"]: r for r in _all_runs()}
    run = runs["experiment"]
    assert run.info.status == "FINISHED"
    assert run.data.params["retrain_epochs"] == "2" and "test_accuracy" in run.data.metrics
    assert run.data.tags["mlflow.project.entryPoint"] == "main"
    # the pre-training stands at the experiment's top level, naming who asked for it
    assert "mlflow.parentRunId" not in runs["pretrain"].data.tags
    assert runs["pretrain"].data.tags["pruning.requested_by"] == run.info.run_id
    assert "Dense pre-training" in runs["pretrain"].data.tags["mlflow.note.content"]


def test_mlflow_run_bad_input_leaves_no_run_running(store, tmp_path):
    done = subprocess.run(["mlflow", "run", str(ROOT), "--env-manager", "local",
                           "-P", "dataset=synthetic", "-P", "final_sparsity=1.5"],
                          env=_env(store), cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode != 0
    assert "final_sparsity=1.5 is outside [0, 1)" in done.stderr
    (run,) = _all_runs()  # the run mlflow made: FAILED, saying why
    assert run.info.status == "FAILED"
    assert "final_sparsity=1.5 is outside [0, 1)" in run.data.tags["error"]
    assert "final_sparsity=1.5" in run.data.tags["mlflow.note.content"]


@pytest.mark.parametrize("argv", [["run", "--help"], ["report", "--experiment", "none-such"],
                                  ["run", "--final-sparsity", "1.5"],
                                  ["run", "--retrain-lr", "-0.1"],
                                  ["tune", "--search", "final_sparsity=float:0.95:1.5"],
                                  ["tune", "--search", "retrain_epochs=cat:two|three"],
                                  ["tune", "--search", "schedule=cat:"]])
@pytest.mark.fast
def test_help_report_and_bad_input_never_import_tensorflow(store, tmp_path, argv):
    code = ("import sys\nfrom pruning import cli\ntry:\n    cli.main(sys.argv[1:])\n"
            "except SystemExit:\n    pass\nprint('tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, *argv], env=_env(store), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr[-2000:]


@pytest.mark.fast
def test_help_groups_every_experiment_flag_once_and_shows_each_default_once():
    from pruning.cli import options

    grouped = [name for _, names in options.HELP_GROUPS for name in names]
    assert sorted(grouped) == sorted(ExperimentConfig.__dataclass_fields__)  # once each
    text = cli.build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    for title in ("data", "model", "schedule", "granularity", "training",
                  "export and latency", "tracking"):
        assert f"experiment: {title}" in text or f"{title}:" in text
    flags = [line for line in text.splitlines() if line.strip().startswith("--")]
    joined = " ".join(text.split())
    assert joined.count("(default: ") <= len(flags) and "(default: None)" not in joined
    assert "this VM" not in text and " here)" not in text
