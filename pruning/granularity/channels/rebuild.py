"""The smaller dense model that structured pruning ships: removed channels and units taken
out of every layer they reach, the rest of the graph as it was.

A removed channel outputs exactly zero in the masked model (its filter, bias and
BatchNorm scale and offset are zero, and every activation here is zero at zero), so
dropping it, and the consumers' weights that read it, leaves the outputs unchanged up
to float summation order. Used by `run` (granularity unit/channel) and `sweep`.
"""
from __future__ import annotations

import numpy as np
import tf_keras as keras

from pruning.granularity.channels import masks as channel_masks
from pruning.granularity.channels.plan import WIDTH, propagate, weight_cuts


def rebuild(model, producer_keep: dict[str, np.ndarray]):
    """A new tf_keras model without the channels `producer_keep` removes ({producer:
    keep-vector}); layers keep their names and their classes."""
    keeps = propagate(model, producer_keep)

    def clone(layer):
        config = layer.get_config()
        width = WIDTH.get(type(layer).__name__)
        out = keeps.get(layer.name, (None, None))[1]
        if width and out is not None:
            config[width] = int(out.sum())
        return type(layer).from_config(config)

    small = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if layer.weights:
            cuts = weight_cuts(layer, keeps.get(layer.name, (None, None)))
            small.get_layer(layer.name).set_weights(
                [channel_masks.cut(w, c) for w, c in zip(layer.get_weights(), cuts)])
    return small
