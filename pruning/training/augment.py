"""Random shifts and flips of training images, a whole batch per call.

Augmenting sample by sample (a tf.data map call per image: 50,000 small calls per
CIFAR-10 epoch) costs about twice the CPU of one call per batch of a few vectorised
ops. Every image still draws its own
shift and flip, from one stateless seed per batch: the same run gives the same images
however tf.data schedules its parallel calls.
"""
from __future__ import annotations

import tensorflow as tf

from pruning.sparsity import schedules


def shift(pixels: int):
    """Zero-pad each image by `pixels` on every side, crop it back at its own random
    offset (0..2*pixels in each direction)."""
    def step(images, seed):
        size = tf.shape(images)
        padded = tf.pad(images, [[0, 0], [pixels, pixels], [pixels, pixels], [0, 0]])
        offsets = tf.random.stateless_uniform([size[0], 2], seed, minval=0,
                                              maxval=2 * pixels + 1, dtype=tf.int32)
        rows = offsets[:, :1] + tf.range(size[1])[None]  # [batch, height]
        cols = offsets[:, 1:] + tf.range(size[2])[None]  # [batch, width]
        images = tf.gather(padded, rows, axis=1, batch_dims=1)
        return tf.gather(images, cols, axis=2, batch_dims=1)
    return step


def flip(images, seed):
    """Mirror each image left-right with probability 1/2."""
    mirrored = tf.random.stateless_uniform([tf.shape(images)[0]], seed) < 0.5
    return tf.where(mirrored[:, None, None, None], tf.reverse(images, axis=[2]), images)


AUGMENTATIONS = {  # config.augment -> batch steps (images, seed) -> images
    "none": lambda pixels: [],
    "shift": lambda pixels: [shift(pixels)],
    "shift_flip": lambda pixels: [shift(pixels), flip],
}


def fit_inputs(x, y, config) -> dict:
    """model.fit's data arguments: one repeated tf.data pipeline for the whole phase, its
    epochs `steps_per_epoch` long (each one reshuffled pass with its own short last
    batch), tf.data's autotuning off.

    Why not arrays, or AUTOTUNE: Keras makes arrays a pipeline with AUTOTUNE prefetching,
    and destroying an autotuned iterator waits for tf.data's optimisation thread, whose
    sleep grows with the iterator's age: up to 32 s between the last epoch of a phase
    and the next step here (14-40 s per CIFAR-10 epoch when Keras made one iterator per
    epoch). Without autotuning there is no such thread; fixed prefetching keeps the
    epoch as fast (bench/phase_gap.py, docs/benchmarks.md)."""
    steps = AUGMENTATIONS[config.augment](config.shift_pixels)
    # y: the labels, or (labels, a teacher's outputs): gathered row by row alike.
    images, labels = tf.convert_to_tensor(x), tf.nest.map_structure(tf.convert_to_tensor, y)
    n, batch = len(x), config.batch_size
    # Shuffled by index, as Keras does for arrays (a shuffle buffer of whole images is
    # ~15% slower per epoch): a fresh permutation per epoch from the config's seed.
    orders = tf.data.Dataset.random(seed=config.seed).map(
        lambda s: tf.random.experimental.stateless_shuffle(tf.range(n), seed=[s, 0]))
    batches = orders.flat_map(lambda order: tf.data.Dataset.from_tensor_slices(order)
                              .batch(batch)).map(
        lambda index: (tf.gather(images, index),
                       tf.nest.map_structure(lambda t: tf.gather(t, index), labels)))
    if steps:
        # A fresh seed per batch and per step, a new stream at each repetition (epoch).
        seeds = tf.data.Dataset.random(seed=config.seed + 1).batch(2 * len(steps))

        def augment(xy, seed):
            augmented = xy[0]
            for i, step in enumerate(steps):
                augmented = step(augmented, seed[2 * i: 2 * i + 2])
            return augmented, xy[1]

        batches = tf.data.Dataset.zip((batches, seeds)).map(augment, num_parallel_calls=2)
    return {"x": without_autotune(batches.prefetch(2)),
            "steps_per_epoch": schedules.steps_per_epoch(n, batch)}


def batched(x, y, batch_size: int):
    """Evaluation data (validation during fit) as a pipeline that tf.data does not
    autotune: see fit_inputs."""
    return without_autotune(tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
                            .prefetch(2))


def without_autotune(dataset):
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)
