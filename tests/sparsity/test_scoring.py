import numpy as np
import pytest

from pruning.sparsity import scoring as methods
from pruning.studies.methods import METHODS

pytestmark = pytest.mark.fast  # pure math, no training: the developer's tier


def test_weight_pruning_exact_count():
    w = np.linspace(1, 100, 100)
    mask = methods.weight_masks({"w": w}, 0.5)["w"]
    assert mask.sum() == 50 and mask[50:].all() and not mask[:50].any()


@pytest.mark.parametrize("sparsity", [0.0, 0.25, 0.5, 0.9, 0.97, 0.99])
def test_each_method_reaches_the_sparsity_per_layer(sparsity):
    rng = np.random.default_rng(0)
    kernels = {"fc1": rng.normal(size=(50, 40)), "fc2": rng.normal(size=(40, 20))}
    masks = methods.weight_masks(kernels, sparsity)
    for layer, k in kernels.items():
        assert masks[layer].sum() == round(k.size * (1 - sparsity)), layer
    masks = methods.global_masks(kernels, sparsity)
    assert sum(m.sum() for m in masks.values()) == round(2800 * (1 - sparsity))


def test_global_uses_one_threshold_across_layers():
    rng = np.random.default_rng(1)
    kernels = {"big": rng.normal(0, 1, size=(100, 50)), "small": rng.normal(0, 5, size=(20, 10))}
    masks = methods.global_masks(kernels, 0.8)
    threshold = methods.global_threshold(kernels, masks)
    for name, k in kernels.items():
        # everything kept is >= the threshold, everything dropped is <= it
        assert np.abs(k[masks[name]]).min() >= threshold
        assert (~masks[name]).sum() == 0 or np.abs(k[~masks[name]]).max() <= threshold
    # the layer of larger weights keeps far more than the layer-wise 20%
    assert masks["small"].mean() > 0.5 > masks["big"].mean()


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(Exception, match="choose one of: channel, global, gradual, unit, weight"):
        METHODS.get("random")
