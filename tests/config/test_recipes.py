"""Recipes and config files: what a command starts from, through the CLI and `mlflow run`."""

import re

import pytest

from pruning import cli
from pruning.config import recipes
from pruning.config import ExperimentConfig
from tests.cli.test_cli import mlflow_run

RECIPE = """dataset = "synthetic"
pretrain_epochs = 1
retrain_epochs = 2
frequency = 1
batch_size = 64
latency_runs = 5
latency_window = 0
calibration_samples = 16
initial_sparsity = 0.3
final_sparsity = 0.6
int8_granularity = "per_tensor"
"""


def _config(argv):
    return cli.config_from_args(cli.build_parser().parse_args(["run", *argv]))


@pytest.mark.fast
def test_every_pair_recipe_is_found_and_valid():
    assert recipes.names() == ["cifar10_mobilenetv2", "fashion_mnist_cnn", "fashion_mnist_mlp",
                               "fashion_mnist_mlp_40x", "mnist_mlp", "mnist_mlp_40x",
                               "mnist_mlp_68x"]
    for name in recipes.names():
        values = recipes.load(name)
        # a pair's own recipe, or one named on purpose (--recipe mnist_mlp_40x)
        assert recipes.for_pair(values["dataset"], values["model"]) == \
            re.sub(r"_\d+x$", "", name)
        ExperimentConfig.from_dict(values)  # every recipe is a valid config
    assert _config(["--recipe", "mnist_mlp_40x"]).clusters == 16


@pytest.mark.fast
def test_a_pair_with_a_recipe_starts_from_it_and_flags_override():
    config = _config(["--seed", "3"])  # mnist + mlp: the project's recipe
    assert config.recipe == "mnist_mlp" and config.pretrain_epochs == 20
    assert config.int8_granularity == "per_tensor" and config.seed == 3
    assert _config(["--recipe", "none"]) == ExperimentConfig()  # the bare defaults
    assert _config(["--dataset", "synthetic"]).recipe == "none"  # no recipe for the pair
    with pytest.raises(Exception, match="unknown recipe 'x'; choose one of: auto, none"):
        _config(["--recipe", "x"])


@pytest.mark.fast
def test_a_config_file_replaces_the_recipe(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(RECIPE)
    config = _config(["--config", str(path), "--final-sparsity", "0.7"])
    assert (config.initial_sparsity, config.final_sparsity) == (0.3, 0.7)
    assert config.recipe == str(path) and config.pretrain_epochs == 1


def test_mlflow_run_honours_the_config_file_and_only_the_given_parameters(store, tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(RECIPE)
    run = mlflow_run(store, tmp_path, f"config={path}", "final_sparsity=0.7")
    params = run.data.params
    # from the file, from -P, and the defaults for the rest
    assert params["initial_sparsity"] == "0.3" and params["final_sparsity"] == "0.7"
    assert params["int8_granularity"] == "per_tensor" and params["retrain_epochs"] == "2"
    assert params["recipe"] == str(path) and params["seed"] == "0"
    assert run.data.metrics["sparsity"] == pytest.approx(0.7, abs=1e-3)
