import io

import numpy as np
import pytest

from pruning.sparsity import masks
from pruning.tracking import masks_file

pytestmark = pytest.mark.fast  # pure math, no training: the developer's tier


def test_sparsity_exact():
    w = np.linspace(1, 100, 100)
    w[:50] = 0
    assert masks.sparsity([w]) == 0.5
    assert masks.sparsity([w, np.ones(100)]) == 0.25


def test_npz_round_trip_keeps_shapes_and_bits():
    rng = np.random.default_rng(0)
    original = {"fc1": rng.random((13, 7)) > 0.9, "block/conv": rng.random((3, 3, 2, 5)) > 0.5}
    restored = masks_file.from_npz(io.BytesIO(masks_file.to_npz_bytes(original)))
    assert restored.keys() == original.keys()
    for name in original:
        assert restored[name].dtype == bool
        np.testing.assert_array_equal(restored[name], original[name])


def test_npz_is_bit_packed():
    big = {"fc": np.ones((1000, 1000), bool)}
    assert len(masks_file.to_npz_bytes(big)) < 1000 * 1000 / 8 + 1000


def test_changed_fraction_counts_flipped_bits():
    a = {"x": np.array([True, True, False, False]), "y": np.array([True] * 4)}
    b = {"x": np.array([True, False, False, True]), "y": np.array([True] * 4)}
    assert masks.changed_fraction(a, b) == 2 / 8
    with pytest.raises(ValueError, match="different layers"):
        masks.changed_fraction(a, {"x": b["x"]})
