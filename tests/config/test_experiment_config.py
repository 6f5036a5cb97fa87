import dataclasses

import pytest

from pruning.config import ExperimentConfig
from pruning.errors import ConfigError

pytestmark = pytest.mark.fast  # pure math, no training: the developer's tier


def test_flat_dict_round_trip_through_strings():
    config = ExperimentConfig(dataset="fashion_mnist", model="cnn", final_sparsity=0.8,
                              begin_step=10, augment="shift_flip")
    as_logged = {k: str(v) for k, v in config.to_dict().items()}  # what MLflow stores
    assert ExperimentConfig.from_dict(as_logged) == config


def test_json_and_toml_round_trip(tmp_path):
    config = ExperimentConfig(model="mlp_large", power=2.0, end_step=300, begin_step=100)
    (tmp_path / "c.json").write_text(config.to_json())
    (tmp_path / "c.toml").write_text(config.to_toml())
    assert ExperimentConfig.load(tmp_path / "c.json") == config
    assert ExperimentConfig.load(tmp_path / "c.toml") == config


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ExperimentConfig().seed = 3


@pytest.mark.parametrize("changes,parameter,fragment", [
    ({"final_sparsity": 1.0}, "final_sparsity", "outside [0, 1)"),
    ({"initial_sparsity": -0.1}, "initial_sparsity", "outside [0, 1)"),
    ({"initial_sparsity": 0.6, "final_sparsity": 0.5}, "final_sparsity", "below initial_sparsity"),
    ({"begin_step": 10, "end_step": 10}, "end_step", "greater than begin_step"),
    ({"begin_step": 0, "end_step": 150}, "end_step", "multiple of frequency"),
    ({"retrain_epochs": 0}, "retrain_epochs", ">= 1"),
    ({"pretrain_epochs": -1}, "pretrain_epochs", ">= 0"),
    ({"dataset": "imagenet"}, "dataset", "choose one of: cifar10, fashion_mnist, mnist"),
    ({"model": "resnet"}, "model", "choose one of: cnn, mlp, mlp_large, mobilenetv2, mobilenetv2_xnnpack"),
    ({"schedule": "cubic"}, "schedule", "constant_sparsity, polynomial_decay"),
    ({"lr_schedule": "step"}, "lr_schedule", "cosine, constant"),
    ({"end_fraction": 0.0}, "end_fraction", "begin_fraction < end_fraction"),
    ({"retrain_lr": float("nan")}, "retrain_lr", "finite"),
    ({"pruning_policy": "fast"}, "pruning_policy", "choose one of: all, pointwise, xnnpack"),
    ({"qat_epochs": -1}, "qat_epochs", ">= 0"),
    ({"latency_window": -1.0}, "latency_window", ">= 0"),
])
def test_bad_values_name_the_parameter(changes, parameter, fragment):
    with pytest.raises(ConfigError) as info:
        ExperimentConfig(**changes)
    assert info.value.parameter == parameter
    assert parameter in str(info.value) and fragment in str(info.value)


def test_from_dict_rejects_unknown_and_malformed():
    with pytest.raises(ConfigError, match="unknown parameter.*sparsity_final"):
        ExperimentConfig.from_dict({"sparsity_final": "0.9"})
    with pytest.raises(ConfigError, match="final_sparsity='high' is not a valid float"):
        ExperimentConfig.from_dict({"final_sparsity": "high"})
    assert ExperimentConfig.from_dict({"begin_step": "auto"}).begin_step is None
