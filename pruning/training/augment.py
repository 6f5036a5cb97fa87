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
    """model.fit's data arguments. Without augmentation, arrays: Keras shuffles them by
    index, ~15% faster per epoch than a tf.data pipeline with a full shuffle buffer."""
    steps = AUGMENTATIONS[config.augment](config.shift_pixels)
    if not steps:
        return {"x": x, "y": y, "batch_size": config.batch_size, "shuffle": True}
    batches = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(
        len(x), seed=config.seed, reshuffle_each_iteration=True).batch(config.batch_size)
    # A fresh seed per batch and per step, a new stream at each repetition (epoch).
    seeds = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True).batch(
        2 * len(steps))

    def augment(xy, seed):
        images = xy[0]
        for i, step in enumerate(steps):
            images = step(images, seed[2 * i: 2 * i + 2])
        return images, xy[1]

    batches = tf.data.Dataset.zip((batches, seeds)).map(augment,
                                                        num_parallel_calls=tf.data.AUTOTUNE)
    # One iterator for the whole phase: repeated, with the epoch's length in steps (each
    # epoch still one reshuffled pass with its own short last batch). Given a finite
    # dataset, Keras destroys its iterator at every epoch's end, and that waited on
    # tf.data's autotuning thread: 14-40 s of idle cores per CIFAR-10 epoch here.
    return {"x": batches.repeat().prefetch(tf.data.AUTOTUNE),
            "steps_per_epoch": schedules.steps_per_epoch(len(x), config.batch_size)}
