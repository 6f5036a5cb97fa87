"""What a run says about itself: its names, its note and its pictures.

Everything here is computed from the config and logged data (no training, no
MLflow), so the same text and figures can be remade from any finished run.
"""
from __future__ import annotations

import re

import numpy as np

from pruning.console import percent
from pruning.sparsity import masks
from pruning.figures import plots
from pruning.sparsity import schedules


def short_name(spec: str) -> str:
    """A model or dataset value as names can hold it: a path's stem, a URI's model name,
    a builder's function (`models:/fraud@champion` -> fraud, `/m/cnn.keras` -> cnn)."""
    text = spec.rstrip("/")
    if text.startswith("runs:/"):  # runs:/<run id>/<path>
        text = "run-" + text[6:].split("/")[0][:8]
    elif text.startswith("models:/"):  # NAME@ALIAS, NAME/VERSION or a model id
        text = text[8:].replace("@", "/").split("/")[0]
    elif text.startswith("tfds:"):
        text = text[5:]
    elif ":" in text and "/" not in text:  # package.module:function
        text = text.split(":")[-1]
    else:
        text = text.split("/")[-1]
        for suffix in (".keras", ".h5", ".hdf5", ".npz"):
            text = text.removesuffix(suffix)
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "model"


def experiment_name(config) -> str:
    """The MLflow experiment a config's runs go to when the user names none: what it
    holds, e.g. mnist-mlp (studies, sweeps and seeds of the pair beside its runs)."""
    return f"{short_name(config.dataset)}-{short_name(config.model)}"


def _what(config) -> str:
    return f"{short_name(config.model)}-{short_name(config.dataset)}"


def run_name(config) -> str:
    if config.m_by_n():
        return f"{_what(config)}-{config.sparsity_m_by_n.replace(',', 'by')}"
    if config.schedule == "constant_sparsity":
        return f"{_what(config)}-const{config.final_sparsity:.0%}"
    shared = "" if config.sparsity_distribution == "uniform" else f"-{config.sparsity_distribution}"
    taught = f"-kd{config.distill_weight:g}" if config.distill_weight else ""
    if config.teacher:  # whose outputs it learnt from: e.g. -kd1-from-cnn
        taught += f"-from-{short_name(config.teacher_config().model)}"
    codes = f"-c{config.clusters}" if config.clusters else ""
    blocks = f"-b{config.sparsity_block.replace(',', 'x')}" if config.sparsity_block else ""
    return (f"{_what(config)}-{config.pruned_by().name_part(config)}"
            f"{percent(config.initial_sparsity)}to{percent(config.final_sparsity)}{shared}{blocks}"
            f"{taught}{_dropout(config)}{codes}")


def _dropout(config) -> str:
    """'-drop0.3' when retraining scales the Dropout rates: in run names and the curves."""
    scale = config.retrain_dropout_scale
    return "" if scale == 1.0 else f"-drop{scale:g}"


def model_name(config) -> str:
    """What the shipped model is, as the models tab lists it: e.g. mlp-mnist-90."""
    if config.m_by_n():
        return f"{_what(config)}-{config.sparsity_m_by_n.replace(',', 'by')}"
    return (f"{_what(config)}-{config.pruned_by().name_part(config)}"
            f"{round(config.final_sparsity * 100):g}")


def figures(config, history, window, final_metrics, snapshots=(), pixel_layer=None
            ) -> dict[str, object]:
    """The run's plots, from logged data only. `snapshots` are (epoch, {layer: mask}) in
    order; `pixel_layer` is (name, image shape) of a first Dense layer on images."""
    from pruning.figures import masks as mask_plots

    fn = schedules.SCHEDULES.get(config.schedule).sparsity
    initial, final = config.sparsity_targets()
    steps = list(range(window.total_steps + 1))
    target = [schedules.sparsity_in_force(s, window, fn, initial, final, config.power)
              for s in steps]
    curve = list(range(window.begin_step, window.end_step + 1))
    schedule = [fn(s, initial, final, window.begin_step, window.end_step, config.power)
                for s in curve]
    retrain = history[config.dense_epochs:config.dense_epochs + config.retrain_epochs]
    spe = window.total_steps // config.retrain_epochs
    actual_steps = [(i + 1) * spe for i in range(len(retrain))]
    title = run_name(config)
    per_layer = {k.split("/", 1)[1]: v for k, v in final_metrics.items()
                 if k.startswith("sparsity/")}
    # What the schedule counts: weights, or channels (whose zeros are more: the weights
    # that read a removed channel go too).
    granularity = config.pruned_by()
    out = {
        "plots/training_curves.png": plots.training_curves(
            history, config.dense_epochs, title,
            # the training accuracy jumps where dropout drops or blocks go: say why
            "pruning starts" + (f" (dropout x{config.retrain_dropout_scale:g})"
                                if _dropout(config) else "")
            + (f" ({config.residual_blocks_removed} residual blocks removed)"
               if config.residual_blocks_removed else ""),
            granularity.phases(config, window, spe)),
        "plots/sparsity_schedule.png": plots.sparsity_over_steps(
            curve, schedule, steps, target, actual_steps,
            [h[granularity.share_metric] for h in retrain],
            window, initial, final, title,
            what=granularity.schedule_axis(config)),
    }
    if snapshots:
        last = snapshots[-1][1]
        sizes = {name: int(np.size(last[name])) for name in per_layer if name in last}
        out["plots/layer_sparsity.png"] = plots.layer_sparsity(
            sizes, {n: per_layer[n] for n in sizes}, title)
        out["plots/masks_final.png"] = mask_plots.final_masks(last, title)
        # The dense model before the first update: every weight kept.
        start = (config.dense_epochs - 1, {n: np.ones_like(m) for n, m in last.items()})
        out["plots/mask_changes.png"] = mask_plots.mask_changes([start, *snapshots], title)
        if pixel_layer is not None and pixel_layer[0] in last:
            name, shape = pixel_layer
            out["plots/pixel_map.png"] = mask_plots.pixel_map(
                masks.pixel_keep_share(last[name], shape), name, title)
    return out


def summary(config, metrics, title: str | None = None, inputs: str | None = None) -> str:
    """A few lines that answer "what did this cost": the run's description in the UI,
    titled with the run's name (`title`; default: `run_name`); `inputs`: how the data
    reached the model (Splits.form)."""
    m = metrics
    initial, final = config.sparsity_targets()
    how = (f"{config.sparsity_m_by_n.replace(',', ':')} structured" if config.m_by_n()
           else f"{config.schedule} {percent(initial)} -> {percent(final)}")
    how = config.pruned_by().how(config, how)
    lines = [f"**{title or run_name(config)}**: {config.model} on {config.dataset}, {how} over "
             f"retraining steps {config.begin_step}-{config.end_step} (policy "
             f"{config.pruning_policy}, {config.sparsity_distribution} across layers; recipe "
             f"{config.recipe}).", ""]
    if "test_accuracy" in m:
        lines.append(f"- test accuracy {m['test_accuracy']:.4f} (dense "
                     f"{m.get('dense_test_accuracy', float('nan')):.4f}"
                     + (f", int8 TFLite {m['tflite_int8_test_accuracy']:.4f})"
                        if "tflite_int8_test_accuracy" in m else ")"))
    lines.append(f"- validation accuracy {m['final_val_accuracy']:.4f}; "
                 + config.pruned_by().removed_line(config, m))
    if "teacher_test_accuracy" in m:
        lines.append(f"- distilled from the dense model of {config.teacher} (test accuracy "
                     f"{m['teacher_test_accuracy']:.4f}, validation "
                     f"{m['teacher_val_accuracy']:.4f})")
    if inputs:
        lines.append(f"- inputs: {inputs}")
    lines.append(f"- dense file {m['dense_model_bytes'] / 1024:.0f} KB; pruned file gzipped "
                 f"{m['model_bytes_gzip'] / 1024:.0f} KB")
    if "tflite_int8_bytes_gzip" in m:
        lines.append(f"- int8 TFLite {m['tflite_int8_bytes'] / 1024:.0f} KB, gzipped "
                     f"{m['tflite_int8_bytes_gzip'] / 1024:.0f} KB ({m['size_reduction']:.1f}x "
                     "smaller than the dense file)")
        int8_base = "dense_int8_latency_us" if "dense_int8_latency_us" in m \
            else "dense_latency_us"  # runs logged before the dense int8 was timed
        lines.append(f"- batch-1 latency: dense {m['dense_latency_us']:.1f} us (int8 "
                     f"{m.get(int8_base, float('nan')):.1f} us); pruned "
                     f"{m['latency_us']:.1f} us, {_speed(m, 'latency_us')}; int8 "
                     f"{m['int8_latency_us']:.1f} us, "
                     f"{_speed(m, 'int8_latency_us', int8_base, 'dense int8')}")
    if "flops" in m:
        lines.append(f"- {m['flops'] / 1e6:.3g} M multiply-adds per input (dense "
                     f"{m['dense_flops'] / 1e6:.3g} M)")
    if "tflite_sparse_bytes" in m:
        lines.append(f"- sparse-storage TFLite {m['tflite_sparse_bytes'] / 1024:.0f} KB (vs "
                     f"{m['tflite_bytes'] / 1024:.0f} KB), accuracy "
                     f"{m['tflite_sparse_test_accuracy']:.4f}, latency "
                     f"{m['tflite_sparse_latency_us']:.1f} us, "
                     f"{_speed(m, 'tflite_sparse_latency_us')}")
    if "tflite_qat_int8_bytes" in m:
        lines.append(f"- pruning-preserving QAT ({config.qat_epochs} epoch(s); sparsity kept "
                     f"{m['qat_sparsity']:.4f}): int8 accuracy "
                     f"{m['tflite_qat_int8_test_accuracy']:.4f} (post-training int8 "
                     f"{m['tflite_int8_test_accuracy']:.4f}), gzipped "
                     f"{m['tflite_qat_int8_bytes_gzip'] / 1024:.0f} KB, latency "
                     f"{m['tflite_qat_int8_latency_us']:.1f} us")
    return "\n".join(lines) + "\n"


def result_line(config, m: dict[str, float]) -> str:
    """What `pruning run` prints when it is done: accuracy, sparsity, size, speed."""
    removed = config.pruned_by().removed_short(m)
    return (f"test accuracy {m['test_accuracy']:.4f} (dense {m['dense_test_accuracy']:.4f}, "
            f"int8 TFLite {m['tflite_int8_test_accuracy']:.4f}) at {removed}; "
            f"{m['dense_model_bytes'] / 1024:.0f} KB dense -> "
            f"{m['tflite_int8_bytes_gzip'] / 1024:.0f} KB gzipped int8 "
            f"({m['size_reduction']:.1f}x); int8 latency {m['int8_latency_us']:.1f} us "
            f"(dense int8 {m['dense_int8_latency_us']:.1f} us: "
            f"{m['dense_int8_latency_us'] / m['int8_latency_us']:.1f}x)")


def pretrain_note(config, key: str, metrics: dict[str, float], requested_by: str | None) -> str:
    """The pre-training run's description: what it is and who shares it."""
    return (f"**Dense pre-training** of {config.model} on {config.dataset}: "
            f"{config.dense_epochs} epochs at lr {config.pretrain_lr:g}, test accuracy "
            f"{metrics['dense_test_accuracy']:.4f}.\n\n"
            f"Cached: every run whose data, model and pre-training settings give key `{key}` "
            "(tag `pretrain_key`) starts from this model instead of training it again"
            + (f"; first requested by run `{requested_by}`." if requested_by else ".") + "\n")


def _speed(metrics, key: str, base: str = "dense_latency_us", label: str = "dense") -> str:
    """How `key`'s latency compares with the dense model's (`base`, named `label`: of the
    same number format, so that quantization is not taken for pruning), said plainly."""
    ratio = metrics[base] / metrics[key]
    if ratio < 1.1:  # within timing noise, or slower
        return f"no speed-up ({ratio:.2f}x the {label} speed)"
    return f"{ratio:.1f}x faster than {label}"


