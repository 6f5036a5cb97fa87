"""tfmot's gradual magnitude pruning of single weights: the only code that wraps a model
with `prune_low_magnitude`, so its fit call always carries `UpdatePruningStep`; the check
that tfmot can wrap a starting model; the strip that ships it; and the probe that prunes
one layer at a time for sensitivity analysis."""
from __future__ import annotations

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import (
    PruneLowMagnitude,
)

from pruning import training
from pruning.errors import ConfigError
from pruning.shipping import quantization
from pruning.sparsity import curves as sensitivity_curves
from pruning.sparsity import distributions, policies, schedules, scoring
from pruning.training import mask_holding
from pruning.training.snapshots import MaskSnapshots


def build_schedule(name: str, initial_sparsity: float, final_sparsity: float, power: float,
                   window: schedules.Window):
    """The tfmot schedule object of schedule `name` over `window`."""
    schedule = schedules.SCHEDULES.get(name)
    return getattr(tfmot.sparsity.keras, schedule.tfmot_class)(
        **schedule.tfmot_args(initial_sparsity, final_sparsity, power, window))


def pruned_wrappers(model) -> list:
    return [layer for layer in model.layers
            if isinstance(layer, PruneLowMagnitude)]


def current_masks(model) -> dict[str, np.ndarray]:
    """{layer name: kept-weights mask} of a model wrapped for pruning."""
    # Dense and Conv2D have one prunable weight (the kernel), hence one mask each.
    return {wrapper.layer.name: wrapper.pruning_vars[0][1].numpy().astype(bool)
            for wrapper in pruned_wrappers(model)}


def wrap_for_pruning(dense_model, config, window: schedules.Window):
    """A copy of `dense_model` with its prunable layers wrapped by tfmot.

    The copy keeps the dense model intact: clone_model reuses the layers it is
    handed back, so wrapping the original would prune it in place.
    """
    copy = keras.models.clone_model(dense_model)
    copy.set_weights(dense_model.get_weights())
    if config.sparsity_distribution == "uniform":
        return tfmot.sparsity.keras.prune_low_magnitude(
            copy, pruning_schedule=build_schedule(config.schedule, *config.sparsity_targets(), config.power,
                                            window),
            pruning_policy=policies.of(config, copy), sparsity_m_by_n=config.m_by_n(),
            block_size=config.block())
    # One schedule per layer, each with its own share of the model-wide targets (a layer
    # left dense is still wrapped, at 0%, so masks and metrics cover the same layers as
    # uniform). clone_model hands the copy's layers, with their weights, to the wrapper.
    targets = layer_targets(copy, config)

    def wrap(layer):
        if layer.name not in targets:
            return layer
        initial, final = targets[layer.name]
        schedule = build_schedule(config.schedule, initial, final, config.power, window)
        return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule,
                                                        block_size=config.block())

    return keras.models.clone_model(copy, clone_function=wrap)


def layer_targets(model, config) -> dict[str, tuple[float, float]]:
    """{layer: (initial_sparsity, final_sparsity)} of every layer the policy prunes, as
    config.sparsity_distribution shares the model-wide targets out."""
    shapes = {name: kernel.shape for name, kernel in policies.prunable_kernels(model, config).items()}
    return distributions.layer_sparsities(config.sparsity_distribution, shapes,
                                          *config.sparsity_targets(),
                                          sensitivity_curves.curves_of(config))


def retrain(dense_model, splits, config, window: schedules.Window, observers=(),
            step_offset: int = 0):
    """Gradual magnitude pruning while retraining; returns (pruned model, history).

    The returned model still carries the pruning wrappers (see export.strip).
    """
    model = wrap_for_pruning(dense_model, config, window)
    snapshots = MaskSnapshots(config.mask_log_every, config.retrain_epochs, observers,
                              step_offset)

    def extra(model, epoch):
        step = int(pruned_wrappers(model)[0].pruning_step.numpy())
        # Model-wide: a distribution's per-layer schedules are linear in their ends, so
        # their size-weighted mean follows the model-wide schedule exactly.
        return {"target_sparsity": schedules.sparsity_at(config.schedule, step, window,
                                                         *config.sparsity_targets(),
                                                         config.power),
                **policies.sparsity_metrics(policies.prunable_kernels(model, config)),
                **snapshots(epoch, lambda: current_masks(model))}

    phase = training.Phase.retraining(config, step_offset)
    history = training.fit(model, splits, config, phase, observers,
                  callbacks=[tfmot.sparsity.keras.UpdatePruningStep()], extra=extra,
                  teacher=dense_model)
    return model, history


def strip(pruned_model):
    """The plain Keras model with the pruning wrappers removed (masked weights kept)."""
    return tfmot.sparsity.keras.strip_pruning(pruned_model)


def check_tfmot(model, config, window) -> None:
    """tfmot refuses a model that a policy, M-by-N or quantization cannot handle only when
    it wraps it, after pre-training: wrap the starting model now to fail first."""
    window = window or schedules.Window(0, 1, 1, 1)
    try:
        wrapped = wrap_for_pruning(model, config, window)
    except ConfigError:  # ours (e.g. sensitivity curves that miss a layer): said already
        raise
    except (ValueError, NotImplementedError) as e:
        name = ("sparsity_m_by_n" if "m_by_n" in str(e) else
                "pruning_policy" if config.pruning_policy != "all" else "model")
        hint = {"pruning_policy": "use model=mobilenetv2_xnnpack or pruning_policy=all",
                "sparsity_m_by_n": "use a model whose kernels it fits, or empty",
                "model": "tfmot wraps built-in Dense and Conv2D layers, and layers that "
                         "implement tfmot's PrunableLayer; replace or adapt that layer"}[name]
        what = ("cannot be pruned by tfmot" if name == "model" else
                f"cannot prune model={config.model}")
        raise ConfigError(name, f"{name}={getattr(config, name)!r} {what} ({hint}): "
                          f"{str(e).splitlines()[0][:300]}") from None
    if not pruned_wrappers(wrapped):
        raise ConfigError("model", f"model={config.model!r} has no layer pruning_policy="
                          f"{config.pruning_policy} prunes (Dense or Conv2D, the output "
                          "layer only with prune_output)")
    if config.qat_epochs:
        try:
            quantization.quantize_model(model)
        except (ValueError, RuntimeError) as e:
            raise ConfigError("qat_epochs", f"qat_epochs={config.qat_epochs}: tfmot cannot "
                              f"quantize model={config.model} (use 0): {e}") from None


class WeightProbe:
    """A copy of the dense model whose layers lose their smallest weights one at a time."""

    def __init__(self, dense, config):
        self.model = keras.models.clone_model(dense)
        self.model.set_weights(dense.get_weights())
        self.kernels = policies.prunable_kernels(self.model, config)
        self.units = {name: kernel.shape for name, kernel in self.kernels.items()}

    def prune(self, name: str, sparsity: float) -> None:
        kernel = self.kernels[name]
        self._set(name, kernel * scoring.weight_masks({name: kernel}, sparsity)[name])

    def restore(self, name: str) -> None:
        self._set(name, self.kernels[name])

    def _set(self, name, kernel) -> None:
        layer = self.model.get_layer(name)
        layer.set_weights([kernel, *layer.get_weights()[1:]])


def one_shot(dense, config, sparsity: float):
    """Each layer's smallest |w| removed at once, its share as config's distribution says:
    (masked copy, sparsity metrics, {layer: mask})."""
    kernels = policies.prunable_kernels(dense, config)
    shares = {name: final for name, (_, final) in layer_targets(
        dense, config.replace(initial_sparsity=0.0, final_sparsity=sparsity)).items()}
    masks = scoring.weight_masks(kernels, shares)
    model = mask_holding.masked_copy(dense, masks)
    return model, policies.sparsity_metrics(policies.prunable_kernels(model, config)), masks
