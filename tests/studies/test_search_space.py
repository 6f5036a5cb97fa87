"""The search space around the starting config, and the starting trial's values: exact."""
import pytest

from pruning.config import ExperimentConfig
from pruning.errors import ConfigError
from pruning.studies import search_space
from pruning.studies.search_space import Dimension

pytestmark = pytest.mark.fast


def test_the_default_space_is_built_around_the_starting_config():
    base = ExperimentConfig(retrain_epochs=20, retrain_lr=1e-3, end_fraction=0.95, power=6.0)
    dims = search_space.parse("auto", base, mask_updates=59)
    assert dims["retrain_epochs"] == Dimension("retrain_epochs", "int", 10, 40)
    assert dims["retrain_lr"] == Dimension("retrain_lr", "float", 2.5e-4, 4e-3, log=True)
    assert dims["end_fraction"] == Dimension("end_fraction", "float", 0.4, 0.95)
    assert dims["power"] == Dimension("power", "float", 1.0, 6.0)
    assert dims["mask_updates"] == Dimension("mask_updates", "int", 4, 100, log=True)
    # every starting value lies inside its dimension
    start = search_space.starting_values(base, dims, 59)
    assert start == {"retrain_epochs": 20, "retrain_lr": 1e-3, "begin_fraction": 0.0,
                     "end_fraction": 0.95, "power": 6.0, "mask_updates": 59}
    for name, value in start.items():
        d = dims[name]
        assert d.low <= value <= d.high


def test_entries_apply_in_order_and_an_explicit_space_wins():
    base = ExperimentConfig(retrain_epochs=4)
    dims = search_space.parse("auto; power=off; final_sparsity=float:0.8:0.95", base, 10)
    assert "power" not in dims and dims["final_sparsity"].high == 0.95
    assert dims["retrain_epochs"] == Dimension("retrain_epochs", "int", 2, 8)
    explicit = search_space.parse("retrain_epochs=int:1:3", base, 10)
    assert list(explicit) == ["retrain_epochs"]
    assert search_space.parse("auto") == {}  # without a base, only the spelling is read


def test_a_space_that_cannot_be_read_names_the_entry():
    with pytest.raises(ConfigError, match="search: cannot read 'epochs'"):
        search_space.parse("epochs")


def test_a_starting_config_outside_an_explicit_space_is_named():
    dims = search_space.parse("retrain_epochs=int:60:61; granularity=cat:weight|channel")
    assert search_space.outside({"retrain_epochs": 2, "granularity": "weight"}, dims) == [
        "retrain_epochs=2"]
    assert search_space.outside({"retrain_epochs": 60, "granularity": "channel"}, dims) == []
