import numpy as np
import tensorflow as tf

from pruning.training import augment
from pruning.config import ExperimentConfig


def _augmented_epochs(config, x, y, epochs=1):
    """[(images, labels)] of each epoch as model.fit reads them: `steps_per_epoch` batches
    of the one repeated dataset."""
    inputs = augment.fit_inputs(x, y, config)
    steps = inputs["steps_per_epoch"]
    batches = list(inputs["x"].take(epochs * steps))
    return [tuple(np.concatenate([b[i].numpy() for b in batches[e * steps:(e + 1) * steps]])
                  for i in (0, 1)) for e in range(epochs)]


def _augmented_epoch(config, x, y):
    return _augmented_epochs(config, x, y)[0][0]


def test_every_augmented_epoch_is_one_reshuffled_pass_over_the_data():
    # One iterator serves all epochs (Keras would otherwise tear it down at every epoch's
    # end); the epochs must still be whole passes: each sample once, a short last batch.
    config = ExperimentConfig(dataset="synthetic", augment="shift", shift_pixels=1,
                              batch_size=16)
    x = np.zeros((70, 4, 4, 1), np.float32)
    y = np.arange(70)  # labels name the samples
    inputs = augment.fit_inputs(x, y, config)
    assert inputs["steps_per_epoch"] == 5
    sizes = [int(b[1].shape[0]) for b in inputs["x"].take(10)]
    assert sizes == [16, 16, 16, 16, 6] * 2
    (_, first), (_, second) = _augmented_epochs(config, x, y, epochs=2)
    assert sorted(first) == sorted(second) == list(range(70))
    assert list(first) != list(second)  # reshuffled


def test_augmentation_shifts_and_flips_reproducibly():
    config = ExperimentConfig(dataset="synthetic", augment="shift_flip", shift_pixels=2,
                              batch_size=16)
    x = np.random.default_rng(0).random((64, 8, 8, 1), dtype=np.float32) + 1.0  # no zeros
    y = np.arange(64) % 10
    first, again = _augmented_epoch(config, x, y), _augmented_epoch(config, x, y)
    assert first.shape == x.shape
    np.testing.assert_array_equal(first, again)  # same seed: the same shifts and flips
    assert (first == 0).any()  # shifted: zero padding came in
    other = _augmented_epoch(config.replace(seed=1), x, y)
    assert not np.array_equal(first, other)


def _crops(image, pixels):
    """Every shifted (and mirrored) version of `image` augment.shift/flip may give."""
    padded = np.pad(image, ((pixels, pixels), (pixels, pixels), (0, 0)))
    h, w = image.shape[:2]
    crops = [padded[dy:dy + h, dx:dx + w] for dy in range(2 * pixels + 1)
             for dx in range(2 * pixels + 1)]
    return crops + [c[:, ::-1] for c in crops]


def test_each_image_is_its_own_shift_and_flip_of_the_original():
    # Batched, but not one shift for the whole batch: every image is exactly one of its
    # (2p+1)^2 crops of the zero-padded original, mirrored or not, and the images of
    # one batch do not all share the same one.
    pixels = 2
    x = np.random.default_rng(0).random((32, 6, 5, 2), dtype=np.float32) + 1.0
    steps = augment.AUGMENTATIONS["shift_flip"](pixels)
    seed = tf.constant([3, 4], tf.int64)
    out = x
    for i, step in enumerate(steps):
        out = step(tf.constant(out), seed + i).numpy()
    assert out.shape == x.shape
    picks = []
    for image, original in zip(out, x):
        matches = [i for i, crop in enumerate(_crops(original, pixels))
                   if np.array_equal(image, crop)]
        assert matches, "not a crop of the padded image"
        picks.append(matches[0])
    assert len(set(picks)) > 8  # 50 outcomes, 32 images: not one shift per batch
    crops_per_side = (2 * pixels + 1) ** 2
    assert any(p >= crops_per_side for p in picks) and any(p < crops_per_side for p in picks)


def test_shift_offsets_cover_every_position_and_no_more():
    pixels = 1
    x = np.zeros((400, 3, 3, 1), np.float32)
    x[:, 1, 1, 0] = 1.0  # a centre pixel: where it lands is the offset
    out = augment.shift(pixels)(tf.constant(x), tf.constant([0, 1], tf.int64)).numpy()
    landed = {tuple(np.argwhere(image[..., 0] == 1.0)[0]) for image in out}
    assert landed == {(r, c) for r in range(3) for c in range(3)}
