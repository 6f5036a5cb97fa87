"""Prune one dense model to many sparsities with several methods; one child run per point.

The studies this grew from, as one command: weight vs unit (neuron) pruning, flat
(global) vs layer-wise, and tfmot's gradual pruning, as accuracy-vs-sparsity curves.
"""
from __future__ import annotations

from dataclasses import dataclass

from pruning import training
from pruning.experiment import pipeline
from pruning.config import ExperimentConfig
from pruning.figures import plots
from pruning.granularity import GRANULARITIES
from pruning.shipping import measure
from pruning.sparsity import curves as sensitivity_curves
from pruning.sparsity import policies, scoring
from pruning.studies import opening
from pruning.studies.configs import SweepConfig
from pruning.studies.methods import METHODS
from pruning.training import mask_holding


@dataclass(frozen=True)
class Point:
    method: str
    requested_sparsity: float
    metrics: dict
    run_id: str


def at_once(dense, kernels, method: str, sparsity: float, splits, config):
    """(model, metrics, {layer: mask} to hold while fine-tuning, or None) of `method` at
    `sparsity`, pruned at once."""
    how = METHODS.get(method)
    if how.granularity is not None:
        return GRANULARITIES.get(how.granularity).one_shot(dense, config, sparsity, splits)
    masks = scoring.global_masks(kernels, sparsity)  # one threshold over all layers
    model = mask_holding.masked_copy(dense, masks)
    metrics = policies.sparsity_metrics(policies.prunable_kernels(model, config))
    if sparsity > 0:
        metrics["threshold"] = scoring.global_threshold(kernels, masks)
    return model, metrics, masks


def one_shot(dense, kernels, method: str, sparsity: float, splits, config, dense_latency,
             finetune_epochs: int):
    """Prune `dense` at once; with `finetune_epochs`, then train the survivors (masks
    fixed). A model rebuilt smaller is also timed. Returns (metrics, the model that would
    ship)."""
    model, metrics, masks = at_once(dense, kernels, method, sparsity, splits, config)
    if finetune_epochs:
        metrics.update(_test_metrics(model, splits, config, "oneshot_"))
        held = mask_holding.kernel_masks(model, masks) if masks is not None else None
        mask_holding.finetune(model, splits, config, finetune_epochs, held)
    metrics.update(_test_metrics(model, splits, config))
    how = METHODS.get(method)
    if how.granularity and GRANULARITIES.get(how.granularity).saves_latency:  # rebuilt smaller
        tflite = measure.to_tflite(model, splits)
        latency = measure.latencies_us([tflite], splits, config)[0]
        metrics.update(shrunk_params=float(model.count_params()),
                       shrunk_tflite_bytes=float(len(tflite)), shrunk_latency_us=latency,
                       speedup=dense_latency / latency)
    return metrics, model


def _test_metrics(model, splits, config, prefix: str = "") -> dict[str, float]:
    test = training.evaluate(model, splits.x_test, splits.y_test, config.batch_size)
    return {f"{prefix}test_accuracy": test["accuracy"], f"{prefix}test_loss": test["loss"]}


def point_name(label: str, sparsity: float, finetune_epochs: int) -> str:
    """e.g. weight-90%, weight-erk-90%+2ep (fine-tuned), gradual-90% (retrained anyway)."""
    return f"{label}-{sparsity:.0%}" + (f"+{finetune_epochs}ep" if finetune_epochs and
                                        not label.startswith("gradual") else "")


def gradual(config: ExperimentConfig, sparsity: float, parent: str, tags: dict,
            name: str) -> tuple:
    """tfmot's schedule with retraining to `sparsity`, as a nested experiment run."""
    target = config.replace(final_sparsity=sparsity,
                            initial_sparsity=min(config.initial_sparsity, sparsity))
    result = pipeline.run(target, parent_run_id=parent, tags=tags,
                            extra_params={"method": "gradual", "requested_sparsity": sparsity},
                            outputs=pipeline.Outputs(export=False, keep_model=False),
                            name=name)
    keys = ("test_accuracy", "test_loss", "sparsity")
    metrics = {k: v for k, v in result.metrics.items()
               if k in keys or k.startswith(("sparsity/", "channel_sparsity"))}
    return metrics, result.run_id, result.pruned_model


def run_sweep(base: ExperimentConfig, sweep: SweepConfig, experiment_name: str | None = None,
              tracking_uri: str | None = None, print_line=print,
              register_model: str | None = None) -> tuple[list[Point], str]:
    """Every (method, sparsity) point as a child run; returns them and the parent run id.
    With `register_model`, the best point (see `best_point`) is logged and registered."""
    def curves_exist(splits):
        for _, distribution, _ in sweep.series(base.sparsity_distribution):
            sensitivity_curves.curves_of(base.replace(sparsity_distribution=distribution))

    splits, start, mlt = opening.open_store(base, experiment_name, tracking_uri, curves_exist)
    params = {**sweep.to_dict(), **opening.base_params(base)}
    points, shipped = [], {}
    with mlt.experiment_run(params, opening.name("sweep", base),
                            opening.tags("sweep", base, start)) as parent:
        dense, pretrain_run_id = pipeline.ensure_pretrained(
            base, splits, start, parent, progress=print_line is not None)
        kernels = policies.prunable_kernels(dense, base)
        dense_latency = measure.latencies_us([measure.to_tflite(dense, splits)], splits, base)[0]
        for method, distribution, label in sweep.series(base.sparsity_distribution):
            shared = base.replace(sparsity_distribution=distribution)
            for sparsity in sweep.sparsity_list():
                point_tags = {"method": method, "requested_sparsity": sparsity,
                              "sparsity_distribution": distribution,
                              "finetune_epochs": sweep.finetune_epochs,
                              "pretrain_run_id": pretrain_run_id or "", "dataset": base.dataset,
                              "model": base.model}
                name = point_name(label, sparsity, sweep.finetune_epochs)
                if METHODS.get(method).gradual:
                    metrics, run_id, model = gradual(shared, sparsity, parent, point_tags, name)
                else:
                    metrics, model = one_shot(dense, kernels, method, sparsity, splits, shared,
                                              dense_latency, sweep.finetune_epochs)
                    run_id = mlt.child_run(parent, name,
                                           {"method": method, "requested_sparsity": sparsity,
                                            "sparsity_distribution": distribution,
                                            "finetune_epochs": sweep.finetune_epochs},
                                           metrics, {**point_tags, "pruning.role": "sweep_point"})
                point = Point(label, sparsity, metrics, run_id)
                points.append(point)
                if register_model:
                    shipped[run_id] = model
                print_line(f"{label:8s} {sparsity:5.0%}: test accuracy "
                           f"{metrics['test_accuracy']:.4f}, sparsity {metrics['sparsity']:.4f}")
        best = best_point(points)
        _summarize(parent, points, base, dense_latency, mlt, best)
        if register_model and best is not None:
            _register(best, shipped[best.run_id], base, splits, parent, register_model, mlt)
    return points, parent


def best_point(points: list[Point], tolerance: float = 0.01) -> Point | None:
    """The sparsest point within `tolerance` of the dense (lowest-sparsity) accuracy of its
    method, over all methods; ties go to the more accurate."""
    candidates = []
    for method in {p.method for p in points}:
        mine = sorted((p for p in points if p.method == method),
                      key=lambda p: p.metrics["sparsity"])
        reference = mine[0].metrics["test_accuracy"]
        candidates += [p for p in mine if p.metrics["test_accuracy"] >= reference - tolerance]
    return max(candidates, key=lambda p: (p.metrics["sparsity"], p.metrics["test_accuracy"]),
               default=None)


def _register(point: Point, model, base, splits, parent, name: str, mlt) -> None:
    """Log the best point's model on its own run and register it."""
    model_id = mlt.log_model(point.run_id, model, splits.as_given(splits.x_val[:5]),
                             f"{base.model}-{base.dataset}-{point.method}-"
                             f"{round(point.metrics['sparsity'] * 100):g}", step=1,
                             transform=splits.input_transform())
    mlt.log_model_metrics(point.run_id, model_id, point.metrics, 0)
    version = mlt.register(model_id, name, point.metrics,
                           f"Best point of sweep run {parent}: {point.method} at sparsity "
                           f"{point.metrics['sparsity']:.3f}, test accuracy "
                           f"{point.metrics['test_accuracy']:.4f}")
    mlt.set_tags(parent, {"registered_model": f"{name}/{version}",
                          "best_point_run_id": point.run_id})


def table(points: list[Point]) -> str:
    rows = ["| method | requested | sparsity | test accuracy | test loss | latency (us) |",
            "|---|---|---|---|---|---|"]
    for p in points:
        m = p.metrics
        latency = f"{m['shrunk_latency_us']:.1f}" if "shrunk_latency_us" in m else ""
        rows.append(f"| {p.method} | {p.requested_sparsity:.2f} | {m['sparsity']:.4f} | "
                    f"{m['test_accuracy']:.4f} | {m['test_loss']:.4f} | {latency} |")
    return "\n".join(rows) + "\n"


def _summarize(parent, points, base, dense_latency, mlt, best: Point | None) -> None:
    curves = {}
    for p in points:
        curves.setdefault(p.method, []).append(
            (p.metrics["sparsity"], p.metrics["test_accuracy"], p.metrics["test_loss"]))
    title = f"{base.model} on {base.dataset}"
    figures = {"plots/accuracy_vs_sparsity.png": plots.sweep_curves(curves, 1, "test accuracy",
                                                                    title),
               "plots/loss_vs_sparsity.png": plots.sweep_curves(curves, 2, "test loss", title)}
    mlt.log_figures(parent, figures, then=plots.close_one)
    mlt.log_text(parent, table(points), "sweep.md")
    lines = [f"# {title}: accuracy against sparsity", ""]
    for method, values in curves.items():
        values = sorted(values)
        reference = values[0][1]  # accuracy at the method's lowest sparsity
        kept = [s for s, acc, _ in values if acc >= reference - 0.01]
        lines.append(f"- {method}: accuracy {reference:.4f} at sparsity {values[0][0]:.2f}; "
                     f"highest sparsity within 1 point of it: {max(kept):.2f}")
    lines.append(f"- dense batch-1 TFLite latency: {dense_latency:.1f} us")
    if best is not None:
        lines.append(f"- best point (sparsest within 1 point of its method's dense accuracy): "
                     f"{best.method} at {best.metrics['sparsity']:.2f}, test accuracy "
                     f"{best.metrics['test_accuracy']:.4f} (run `{best.run_id}`)")
    mlt.log_text(parent, "\n".join(lines) + "\n", "summary.md")
    mlt.set_note(parent, "\n".join(lines) + "\n\n" + table(points))
