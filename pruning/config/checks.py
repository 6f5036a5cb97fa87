"""The checks an ExperimentConfig runs on itself when built: one ConfigError naming the
parameter and what is allowed. Cheap, and no TensorFlow: a config is built before any
training starts (and by the CLI, to refuse bad input at once).
"""
from __future__ import annotations

import dataclasses

from pruning.config import recipes
from pruning.config.fields import check_fields
from pruning.data import sources as data_sources
from pruning.errors import ConfigError
from pruning.granularity import GRANULARITIES
from pruning.models import sources as model_sources
from pruning.sparsity import schedules
from pruning.sparsity.distributions import DISTRIBUTIONS
from pruning.sparsity.scoring import SCORES

INT_MAX = 2**31 - 1  # TensorFlow counts steps, batches and epochs in int32
SEED_MAX = 2**32 - 1  # numpy's and Keras' seeds are 32-bit


def timed_granularities() -> str:
    """The granularities whose removals save time, in words ("unit or channel")."""
    return " or ".join(name for name, g in GRANULARITIES.items() if g.saves_latency)


def validate(config) -> None:
    """Raises ConfigError for the first value `config` does not allow."""

    data_sources.kind_of(config.dataset)  # the spelling only: files are read by preflight
    model_sources.kind_of(config.model)
    schedules.SCHEDULES.get(config.schedule)
    granularity = GRANULARITIES.get(config.granularity)
    SCORES.get(config.channel_score)
    check_fields(config)
    for name in ("initial_sparsity", "final_sparsity"):
        if not 0.0 <= getattr(config, name) < 1.0:
            raise ConfigError(name, f"{name}={getattr(config, name)} is outside [0, 1)")
    if config.final_sparsity < config.initial_sparsity:
        raise ConfigError("final_sparsity", f"final_sparsity={config.final_sparsity} is below "
                          f"initial_sparsity={config.initial_sparsity}; it must be >= it")
    for name in ("retrain_epochs", "batch_size", "frequency", "channel_multiple",
                 "calibration_samples", "latency_runs"):
        if getattr(config, name) < 1:
            raise ConfigError(name, f"{name}={getattr(config, name)} must be >= 1")
    for name in ("mask_log_every", "input_size", "seed", "weight_decay", "shift_pixels",
                 "qat_epochs", "pretrain_epochs", "cluster_epochs", "latency_window",
                 "residual_blocks_removed"):
        if (getattr(config, name) or 0) < 0:
            raise ConfigError(name, f"{name}={getattr(config, name)} must be >= 0")
    if config.clusters and not 2 <= config.clusters <= 256:
        raise ConfigError("clusters", f"clusters={config.clusters}: allowed 0 (none) or 2 to "
                          "256 (int8 holds 256 values)")
    if config.clusters and config.qat_epochs:
        raise ConfigError("clusters", f"clusters={config.clusters} with qat_epochs="
                          f"{config.qat_epochs}: quantization-aware training would move the "
                          "shared values apart; use one of them")
    for name in ("pretrain_lr", "retrain_lr", "qat_lr", "cluster_lr", "power", "alpha",
                 "distill_temperature"):
        if getattr(config, name) <= 0:
            raise ConfigError(name, f"{name}={getattr(config, name)} must be > 0")
    for f in dataclasses.fields(config):
        value, limit = getattr(config, f.name), SEED_MAX if f.name == "seed" else INT_MAX
        if isinstance(value, int) and not isinstance(value, bool) and value > limit:
            raise ConfigError(f.name, f"{f.name}={value} is too large; allowed: up to "
                              f"{limit}")
    if not 0.0 < config.val_fraction < 1.0:
        raise ConfigError("val_fraction", f"val_fraction={config.val_fraction} is outside (0, 1)")
    for name in ("distill_weight", "retrain_dropout_scale"):
        if not 0.0 <= getattr(config, name) <= 1.0:
            raise ConfigError(name, f"{name}={getattr(config, name)} is outside [0, 1]")
    if not 0.0 <= config.bn_momentum < 1.0:
        raise ConfigError("bn_momentum", f"bn_momentum={config.bn_momentum} is outside [0, 1)")
    if not 0.0 <= config.begin_fraction < config.end_fraction <= 1.0:
        raise ConfigError("end_fraction", "need 0 <= begin_fraction < end_fraction <= 1, got "
                          f"begin_fraction={config.begin_fraction}, "
                          f"end_fraction={config.end_fraction}")
    if config.teacher:
        _check_teacher(config)
    config.m_by_n()  # validates the spelling
    if config.block() != (1, 1) and config.m_by_n():
        raise ConfigError("sparsity_block", f"sparsity_block={config.sparsity_block!r}: tfmot "
                          "prunes in blocks or M-by-N, not both; leave one empty")
    if config.sparsity_distribution != "uniform" and (config.sparsity_m_by_n
                                                     or config.pruning_policy == "xnnpack"):
        # M-by-N fixes every layer at M/N, and tfmot applies the XNNPACK policy to the
        # whole model with one schedule.
        raise ConfigError("sparsity_distribution", f"sparsity_distribution="
                          f"{config.sparsity_distribution!r} needs unstructured pruning "
                          "with pruning_policy all or pointwise; use uniform")
    if config.reads_curves() and not config.sensitivity:
        raise ConfigError("sensitivity", f"sensitivity: sparsity_distribution="
                          f"{config.sparsity_distribution} needs the curves of a `pruning "
                          "sensitivity` run: sensitivity=runs:/<run_id>/sensitivity.json "
                          "or a path to that file")
    if DISTRIBUTIONS.get(config.sparsity_distribution).curves == "latency" \
            and not granularity.saves_latency:
        raise ConfigError("sparsity_distribution", f"sparsity_distribution="
                          f"{config.sparsity_distribution} needs granularity "
                          f"{timed_granularities()}: {granularity.removes} removed from "
                          "dense kernels save no time")
    if config.residual_blocks_removed and not granularity.removes_blocks:
        raise ConfigError("residual_blocks_removed", f"residual_blocks_removed="
                          f"{config.residual_blocks_removed} needs granularity=channel, not "
                          f"{config.granularity!r}")
    granularity.check_config(config)
    if config.mask_updates is not None and config.mask_updates < 1:
        raise ConfigError("mask_updates", f"mask_updates={config.mask_updates} must be >= 1 "
                          "or auto")
    if config.begin_step is not None and config.begin_step < 0:
        raise ConfigError("begin_step", f"begin_step={config.begin_step} must be >= 0 or auto")
    if config.begin_step is not None and config.end_step is not None:
        if config.end_step <= config.begin_step:
            raise ConfigError("end_step", f"end_step={config.end_step} must be greater than "
                              f"begin_step={config.begin_step}")
        if config.mask_updates is None and (config.end_step - config.begin_step) % config.frequency:
            # tfmot only updates masks at begin_step + k * frequency: a window that is
            # not a whole number of frequencies never reaches final_sparsity.
            raise ConfigError("end_step", f"end_step - begin_step = "
                              f"{config.end_step - config.begin_step} must be a multiple of "
                              f"frequency={config.frequency}, or final_sparsity is never "
                              "reached")


def _check_teacher(config) -> None:
    if not config.distill_weight:
        raise ConfigError("teacher", f"teacher={config.teacher!r} teaches only through "
                          "distillation: set distill_weight > 0")
    if config.augment != "none":
        # Its outputs are computed once, on the images as they are: a shifted image
        # would be taught what the teacher said of the unshifted one.
        raise ConfigError("teacher", f"teacher={config.teacher!r} with augment="
                          f"{config.augment!r}: a teacher's outputs are computed once, on "
                          "the training images as they are; allowed: augment none")
    dataset = recipes.values_of(config.teacher, "teacher").get("dataset", config.dataset)
    if dataset != config.dataset:
        raise ConfigError("teacher", f"teacher={config.teacher!r} is a recipe for dataset "
                          f"{dataset!r}, not {config.dataset!r}; allowed: a recipe for the "
                          "run's dataset, or one that names none")
