"""Weight sharing after pruning (Deep Compression's second stage): tfmot's
sparsity-preserving clustering gives each pruned layer `clusters` shared values, trained
for `cluster_epochs` with the zeros held, then stripped to a plain model.

Why it shrinks the file: int8 weights drawn from 16 values carry 4 bits each, and gzip's
Huffman stage finds that; the zeros (the mask) stay where pruning put them, so LiteRT
runs the model as any other int8 model.
"""
from __future__ import annotations

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from pruning import training
from pruning.sparsity import policies


def share_weights(model, splits, config, observers=(), step_offset: int = 0):
    """(the model with config.clusters values per pruned kernel, history of its
    cluster_epochs at cluster_lr, reported as cluster_* metrics)."""
    kernels = policies.prunable_kernels(model, config)
    clustering = tfmot.clustering.keras
    init = clustering.CentroidInitialization.KMEANS_PLUS_PLUS

    def wrap(layer):
        if layer.name not in kernels:
            return layer
        return clustering.cluster_weights(layer, number_of_clusters=config.clusters,
                                          cluster_centroids_init=init, preserve_sparsity=True)

    copy = keras.models.clone_model(model)  # `model` stays as it was
    copy.set_weights(model.get_weights())
    clustered = keras.models.clone_model(copy, clone_function=wrap)
    phase = training.Phase("cluster", config.cluster_epochs, config.cluster_lr, step_offset)
    history = training.fit(clustered, splits, config, phase, [training.Prefixed("cluster_", observers)])
    return clustering.strip_clustering(clustered), history


def distinct_values(model, config) -> dict[str, float]:
    """The most distinct non-zero values in any pruned kernel (at most `clusters`)."""
    counts = [len(np.unique(k[k != 0])) for k in policies.prunable_kernels(model, config).values()]
    return {"cluster_values": float(max(counts, default=0))}
