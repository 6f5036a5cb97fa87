"""Single weights, tfmot's gradual magnitude pruning: zeros stay in dense kernels, and
the model ships stripped of tfmot's wrappers. Smaller when compressed, never faster.

TensorFlow is imported by the methods that train (pruning.granularity.tfmot_pruning),
not here: the config checks itself against this class before TensorFlow loads.
"""
from __future__ import annotations

from pruning.granularity.base import Granularity, Pruned


class Weights(Granularity):
    name = "weight"
    removes = "weights"
    saves_latency = False
    share_metric = "sparsity"
    removes_blocks = False

    def needs_model_check(self, config, builtin: bool) -> bool:
        # tfmot itself refuses only when it wraps, after pre-training: a model or an
        # option it may refuse is tried on the starting model first.
        return (not builtin or config.pruning_policy != "all" or bool(config.m_by_n())
                or bool(config.qat_epochs) or config.reads_curves())

    def check(self, model, config, window) -> None:
        from pruning.granularity import tfmot_pruning

        tfmot_pruning.check_tfmot(model, config, window)

    def prune(self, dense, splits, config, window, observers, step_offset) -> Pruned:
        from pruning.granularity import tfmot_pruning
        from pruning.sparsity import policies

        pruned, history = tfmot_pruning.retrain(dense, splits, config, window, observers,
                                                step_offset)
        stripped = tfmot_pruning.strip(pruned)
        return Pruned(stripped,
                      policies.sparsity_metrics(policies.prunable_kernels(stripped, config)),
                      history)

    def probe(self, dense, config, splits=None):
        from pruning.granularity import tfmot_pruning

        return tfmot_pruning.WeightProbe(dense, config)

    def one_shot(self, dense, config, sparsity: float, splits):
        """Each layer's smallest |w| removed at once, each layer's share as the config's
        sparsity distribution says; returns (model, metrics, {layer: mask} to hold)."""
        from pruning.granularity import tfmot_pruning

        return tfmot_pruning.one_shot(dense, config, sparsity)

    def schedule_axis(self, config) -> str:
        return "sparsity of the pruned weights"
