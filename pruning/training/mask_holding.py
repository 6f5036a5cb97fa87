"""Masks held fixed while the rest of a model trains: pruned weights stay zero.

One compiled function multiplies every masked weight by its mask after each batch
(a Python loop of assigns costs ~50 us per weight per batch: MobileNetV2 has ~200).
The masks are variables, so a new set (structured pruning's next update) is an assign,
not a retrace.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from pruning.training import loop


class HeldMasks:
    """The weights of `model` that masks may gate: {layer name: [weight index, ...]}."""

    def __init__(self, model, reach: dict[str, list[int]]):
        self.pairs = []
        self.index = {}
        for name, indices in reach.items():
            weights = model.get_layer(name).weights
            for i in indices:
                variable = weights[i]
                self.index[(name, i)] = len(self.pairs)
                self.pairs.append((variable, tf.Variable(tf.ones_like(variable),
                                                         trainable=False)))
        self._apply = tf.function(self._multiply)

    def _multiply(self):
        for variable, mask in self.pairs:
            variable.assign(variable * mask)

    def set(self, masks: dict[tuple[str, int], np.ndarray]) -> None:
        """New masks ({(layer, weight index): mask}); the reachable weights not named are
        all kept. Applied at once."""
        for key, position in self.index.items():
            variable, mask = self.pairs[position]
            mask.assign(masks[key].astype(mask.dtype.as_numpy_dtype) if key in masks
                        else np.ones(variable.shape, mask.dtype.as_numpy_dtype))
        self.apply()

    def apply(self) -> None:
        if self.pairs:
            self._apply()


class Hold(keras.callbacks.Callback):
    """Re-applies the masks after every training batch: the optimizer's step (Adam's
    momentum) would otherwise bring pruned weights back."""

    def __init__(self, held: HeldMasks):
        super().__init__()
        self.held = held

    def on_train_batch_end(self, batch, logs=None):
        self.held.apply()


def masked_copy(model, masks: dict[str, np.ndarray]):
    """A copy of `model` with its kernels multiplied by `masks` ({layer: kept})."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for name, mask in masks.items():
        layer = copy.get_layer(name)
        kernel, *rest = layer.get_weights()
        layer.set_weights([kernel * mask, *rest])
    return copy


def kernel_masks(model, masks: dict[str, np.ndarray]) -> HeldMasks:
    """Held kernel masks ({layer: kept}): what unstructured one-shot pruning fixes."""
    held = HeldMasks(model, {name: [0] for name in masks})
    held.set({(name, 0): mask for name, mask in masks.items()})
    return held


def finetune(model, splits, config, epochs: int, held: HeldMasks | None = None):
    """Plain training of an already pruned (or rebuilt) model at config.retrain_lr, with
    `held` masks fixed, and dropout as while retraining; returns the per-epoch metrics."""
    phase = loop.Phase("finetune", epochs, config.retrain_lr, 0, config.retrain_dropout_scale)
    callbacks = [Hold(held)] if held is not None else []
    return loop.fit(model, splits, config, phase, (), callbacks)
