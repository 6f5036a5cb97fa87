"""Whether tfmot can prune a model as configured: checked on the starting model, before
any run or training, because tfmot itself only refuses when it wraps the model."""
from __future__ import annotations

from . import quantization, schedules, train
from .errors import ConfigError


def check_tfmot(model, config, window) -> None:
    """tfmot refuses a model that a policy, M-by-N or quantization cannot handle only when
    it wraps it, after pre-training: wrap the starting model now to fail first."""
    window = window or schedules.Window(0, 1, 1, 1)
    try:
        wrapped = train.wrap_for_pruning(model, config, window)
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
    if not train.pruned_wrappers(wrapped):
        raise ConfigError("model", f"model={config.model!r} has no layer pruning_policy="
                          f"{config.pruning_policy} prunes (Dense or Conv2D, the output "
                          "layer only with prune_output)")
    if config.qat_epochs:
        try:
            quantization.quantize_model(model)
        except (ValueError, RuntimeError) as e:
            raise ConfigError("qat_epochs", f"qat_epochs={config.qat_epochs}: tfmot cannot "
                              f"quantize model={config.model} (use 0): {e}") from None
