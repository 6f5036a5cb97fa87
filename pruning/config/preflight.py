"""Everything that can be checked before TensorFlow loads: the data (files, shapes,
labels, split sizes) and the pruning window. Bad input fails here, in about a second,
before any run exists."""
from __future__ import annotations

from pruning.data import splits as data
from pruning.models import sources as model_sources
from pruning.sparsity import schedules
from pruning.sparsity import curves as sensitivity_curves
from pruning.errors import ConfigError


def check(config, window: bool = True):
    """(config with begin/end_step and pretrain_epochs resolved, data splits, window);
    without `window`, the data only (None for the window: a sweep's one-shot points and a
    study's trials, whose search may change the window, have none of the base's)."""
    model_sources.check_exists(config.model)
    sensitivity_curves.curves_of(config)  # a missing or foreign file fails before any data
    splits = data.load(config.dataset, config.data_dir, config.val_fraction, config.seed)
    n_train, n_val = len(splits.x_train), len(splits.x_val)
    if n_val < 1:
        raise ConfigError("val_fraction", f"val_fraction={config.val_fraction} holds out no "
                          f"sample of the {n_train} training samples; allowed: at least "
                          f"{1 / n_train:.2g}")
    if config.batch_size > n_train:
        raise ConfigError("batch_size", f"batch_size={config.batch_size} is larger than the "
                          f"{n_train} training samples; allowed: 1 to {n_train}")
    if not window:
        return config, splits, None
    window = config.window(schedules.steps_per_epoch(n_train, config.batch_size))
    resolved = config.replace(begin_step=window.begin_step, end_step=window.end_step,
                              pretrain_epochs=config.dense_epochs)
    return resolved, splits, window
