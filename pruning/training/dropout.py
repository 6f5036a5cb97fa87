"""Dropout while retraining: a pruned network has fewer weights left to regularize.

Han et al. 2015 ("Learning both Weights and Connections", section 3.2) shrink the
dropout rate with the connections kept, D_r = D_o * sqrt(C_r / C_o): about 0.3 of the
dense rate at 90% sparsity. Here one factor (`retrain_dropout_scale`) scales every
Dropout layer of the model being retrained, a copy; the dense model (and teacher)
keeps its own rates.
"""
from __future__ import annotations

import tf_keras as keras


def rescale(model, factor: float) -> dict[str, float]:
    """Sets the rate of every Dropout layer of `model` (tfmot-wrapped or not) to its
    rate before any rescaling times `factor`, in place (twice is the same as once);
    returns {layer: rate now}. Call it before fit traces the training step: a Dropout
    reads its rate when traced."""
    rates = {}
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, keras.layers.Dropout):
            inner.unscaled_rate = getattr(inner, "unscaled_rate", inner.rate)
            inner.rate = inner.unscaled_rate * factor
            rates[inner.name] = inner.rate
    return rates
