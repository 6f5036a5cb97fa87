"""Pruning-preserving quantization-aware training: after pruning, int8 fake-quantization
trained in, the zeros held (tfmot's Default8BitPrunePreserveQuantizeScheme)."""
from __future__ import annotations

import tensorflow_model_optimization as tfmot

from pruning import training


def quantize_model(model):
    """A fake-quantized int8 copy that keeps the zeros of a stripped pruned model
    (tfmot's pruning-preserving scheme): what quantization-aware training trains."""
    annotated = tfmot.quantization.keras.quantize_annotate_model(model)
    return tfmot.quantization.keras.quantize_apply(
        annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())


def quantization_aware(pruned, splits, config, observers=(), step_offset: int = 0):
    """Pruning-preserving quantization-aware training of a stripped pruned model for
    config.qat_epochs at config.qat_lr; returns (QAT model, history). Its epochs reach
    observers as qat_* metrics."""
    model = quantize_model(pruned)
    phase = training.Phase("qat", config.qat_epochs, config.qat_lr, step_offset)
    history = training.fit(model, splits, config, phase, [training.Prefixed("qat_", observers)])
    return model, history
