"""Channel selection and per-weight cuts: pure numpy, exact values."""
import numpy as np
import pytest

from pruning.sparsity import scoring
from pruning.granularity.channels import masks as cm
from pruning.errors import ConfigError

pytestmark = pytest.mark.fast  # pure math, no training: the developer's tier


def test_filter_norms_per_output_channel():
    kernel = np.zeros((1, 1, 2, 3))
    kernel[..., 0] = [[[3.0, 4.0]]]
    kernel[..., 1] = [[[-1.0, 1.0]]]
    np.testing.assert_allclose(scoring.filter_norms(kernel, 2), [5.0, np.sqrt(2), 0.0])
    np.testing.assert_allclose(scoring.filter_norms(kernel, 1), [7.0, 2.0, 0.0])


def test_units_by_l2_norm_remove_the_weakest_columns():
    k = np.array([[1.0, 0.1, 3.0, 0.2], [1.0, 0.1, -3.0, 0.3]])
    keep = cm.keep_channels(scoring.filter_norms(k, 2), 0.5)
    np.testing.assert_array_equal(keep, [True, False, True, False])


def test_scores_bn_scale_where_a_batchnorm_follows_else_the_filter_norm():
    kernel = np.array([[3.0, 0.0, 1.0], [4.0, 1.0, 0.0]])
    np.testing.assert_allclose(scoring.SCORES.get("bn")(kernel, np.array([-0.5, 2.0, 0.1])),
                               [0.5, 2.0, 0.1])
    np.testing.assert_allclose(scoring.SCORES.get("bn")(kernel, None), [5.0, 1.0, 1.0])
    with pytest.raises(ConfigError, match="choose one of: bn, l1, l2"):
        scoring.SCORES.get("random")


def test_group_scores_weigh_tied_layers_alike():
    # Two producers tied by a residual Add, at scales 100x apart: each counts the same.
    np.testing.assert_allclose(cm.group_scores([np.array([1.0, 3.0]), np.array([300.0, 100.0])]),
                               [0.5 + 1.5, 1.5 + 0.5])


@pytest.mark.parametrize("channels, sparsity, multiple, kept", [
    (32, 0.5, 1, 16), (32, 0.5, 8, 16), (38, 0.0, 8, 38),  # all kept stays all
    (64, 0.4, 8, 40),  # 38.4 -> 38 -> nearest multiple of 8: 40
    (64, 0.45, 8, 32),  # 35.2 -> 35 -> 32
    (8, 0.9, 8, 8),  # never below one multiple
    (5, 0.99, 1, 1),  # never below one channel
    (300, 0.6, 8, 120), (100, 0.6, 8, 40), (12, 0.1, 8, 12)])  # never above all
def test_channels_kept_round_to_a_multiple(channels, sparsity, multiple, kept):
    assert cm.n_channels_kept(channels, sparsity, multiple) == kept


def test_keep_channels_ties_go_by_position():
    np.testing.assert_array_equal(cm.keep_channels(np.array([1.0, 1.0, 1.0, 2.0]), 0.5),
                                  [True, False, False, True])


def test_weight_masks_and_cuts_follow_both_sides():
    kernel = np.arange(2 * 3 * 4, dtype=float).reshape(1, 2, 3, 4)  # (kh, kw, in, out)
    in_keep, out_keep = np.array([True, False, True]), np.array([False, True, True, False])
    keeps = cm.weight_keep(kernel.shape, {2: "in", 3: "out"}, in_keep, out_keep)
    mask = cm.mask(kernel.shape, keeps)
    assert mask.sum() == 2 * 2 * 2
    np.testing.assert_array_equal(mask[0, 0], [[0, 1, 1, 0], [0, 0, 0, 0], [0, 1, 1, 0]])
    small = cm.cut(kernel, keeps)
    assert small.shape == (1, 2, 2, 2)
    np.testing.assert_array_equal(small, kernel[:, :, [0, 2]][..., [1, 2]])
    # an axis whose channels all stay is not cut; a wrong length is an error
    assert cm.weight_keep((3,), {0: "out"}, None, np.ones(3, bool)) == {}
    with pytest.raises(ValueError, match="4 channels for an axis of 3"):
        cm.weight_keep((3,), {0: "out"}, None, out_keep)


def test_channel_sparsity_counts_channels_over_groups():
    assert cm.channel_sparsity([np.array([True, False]), np.array([True] * 6)]) == \
        pytest.approx(1 / 8)
    assert cm.channel_sparsity([]) == 0.0
