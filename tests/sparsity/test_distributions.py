"""How sparsity is shared among layers: exact values of the pure distributions."""
import pytest

from pruning.sparsity import distributions
from pruning.config import ExperimentConfig
from pruning.errors import ConfigError

pytestmark = pytest.mark.fast  # pure math, no training: the developer's tier

SHAPES = {"small": (10, 10), "large": (100, 100)}


def _overall(shapes, sparsities):
    sizes = {name: shape[0] * shape[1] for name, shape in shapes.items()}
    return sum(sizes[n] * sparsities[n] for n in shapes) / sum(sizes.values())


def test_uniform_gives_every_layer_the_target():
    assert distributions.uniform(SHAPES, 0.9) == {"small": 0.9, "large": 0.9}


def test_erk_keeps_shares_proportional_to_sum_over_product():
    # raw shares 20/100 and 200/10000; 1010 of the 10100 weights kept: scale 1010/220.
    s = distributions.erdos_renyi_kernel(SHAPES, 0.9)
    assert s["small"] == pytest.approx(1 - 0.2 * 1010 / 220)  # 0.0818...
    assert s["large"] == pytest.approx(1 - 0.02 * 1010 / 220)  # 0.9081...
    assert _overall(SHAPES, s) == pytest.approx(0.9)


def test_erk_leaves_a_layer_dense_when_its_share_would_pass_one():
    # (2, 2): raw share 1, so scale 5002/204 would keep 24.5x its weights; it stays dense
    # and the large layer keeps the remaining 4998 of its 10000.
    shapes = {"tiny": (2, 2), "large": (100, 100)}
    s = distributions.erdos_renyi_kernel(shapes, 0.5)
    assert s == {"tiny": 0.0, "large": pytest.approx(0.5002)}
    assert _overall(shapes, s) == pytest.approx(0.5)


def test_erk_at_zero_sparsity_prunes_nothing():
    assert distributions.erdos_renyi_kernel(SHAPES, 0.0) == {"small": 0.0, "large": 0.0}


def test_layer_sparsities_pair_initial_and_final_per_layer():
    pairs = distributions.layer_sparsities("erk", SHAPES, 0.5, 0.9)
    # At 0.5 the small layer would keep 0.2 * 5050 / 220 > 1 of its weights: dense, and
    # the large one keeps 4950 of its 10000.
    assert pairs["small"] == pytest.approx((0.0, 1 - 0.2 * 1010 / 220))
    assert pairs["large"] == pytest.approx((0.505, 1 - 0.02 * 1010 / 220))
    for initial, final in pairs.values():
        assert 0.0 <= initial <= final < 1.0


def test_distribution_is_checked_by_name_and_against_structured_pruning():
    with pytest.raises(ConfigError, match="sparsity_distribution='flat'.*uniform, erk"):
        ExperimentConfig(sparsity_distribution="flat")
    for other in ({"sparsity_m_by_n": "2,4"}, {"pruning_policy": "xnnpack"}):
        with pytest.raises(ConfigError, match="sparsity_distribution='erk' needs unstructured"):
            ExperimentConfig(sparsity_distribution="erk", **other)


def test_runs_name_a_non_uniform_distribution():
    from pruning.experiment.describe import run_name

    assert run_name(ExperimentConfig(sparsity_distribution="erk")) == "mlp-mnist-50%to90%-erk"
    assert run_name(ExperimentConfig()) == "mlp-mnist-50%to90%"
