"""Sensitivity analysis: each prunable layer (or channel group) pruned alone, at once, at
several sparsities, the rest of the model untouched; the validation accuracy of each.

What it answers: which layers can lose most before the model notices. Its curves feed
`sparsity_distribution = "sensitivity"` (pruning.sparsity.distributions). *How* a layer is pruned
is its granularity's probe (pruning.granularity.base): single weights by magnitude, or
whole channels by channel_score, with everything tied to them.
"""
from __future__ import annotations

from pruning import training
from pruning.experiment import pipeline
from pruning.figures import plots
from pruning.shipping import measure
from pruning.sparsity import curves as curves_file
from pruning.studies import opening


def analyse(dense, splits, config, sparsities, print_line=None, timed: bool = False):
    """(validation accuracy of `dense`, {layer or group: [(sparsity, val accuracy)]},
    with `timed` (unit/channel only) (dense int8 latency, {group: [(sparsity, latency of
    the model rebuilt without them)]}), else None)."""
    probe = config.pruned_by().probe(dense, config, splits)
    removed = getattr(probe, "removed_line", lambda: None)()
    if print_line and removed:
        print_line(removed)

    def accuracy() -> float:
        return training.evaluate(probe.model, splits.x_val, splits.y_val,
                              config.batch_size)["accuracy"]

    baseline, out, converted = accuracy(), {}, {}
    dense_int8 = probe.int8(splits) if timed else None
    for unit in probe.units:
        out[unit] = []
        for sparsity in sparsities:
            probe.prune(unit, sparsity)
            out[unit].append((sparsity, accuracy()))
            if timed:
                converted[unit, sparsity] = probe.int8(splits)
            probe.restore(unit)
        if print_line:
            print_line(f"{unit}: " + ", ".join(f"{s:.0%} {a:.4f}" for s, a in out[unit])
                       + f" (unpruned {baseline:.4f})")
    if not timed:
        return baseline, out, None
    # All cuts timed together, round after round: each sees the machine's fast spells and
    # its slow ones alike (pruning.shipping.timing).
    if print_line:
        print_line(f"timing {len(converted) + 1} int8 models together, batch 1")
    dense_latency, *times = measure.latencies_us([dense_int8, *converted.values()], splits,
                                                 config)
    latencies = {unit: [] for unit in out}
    for (unit, sparsity), latency in zip(converted, times):
        latencies[unit].append((sparsity, latency))
    if print_line:
        for unit, points in latencies.items():
            print_line(f"{unit}: " + ", ".join(f"{s:.0%} {t:.0f}us" for s, t in points)
                       + f" (unpruned {dense_latency:.0f}us)")
    return baseline, out, (dense_latency, latencies)


def table(baseline: float, accuracies: dict[str, list[tuple]], latency=None) -> str:
    """Markdown: one row per layer, the accuracy drop in points at each sparsity; with
    `latency` (analyse's), a second table of the microseconds each cut saved."""
    text = _rows(accuracies, lambda a: f"{(baseline - a) * 100:+.2f}")
    if latency:
        text += (f"\nBatch-1 int8 latency saved, in microseconds (dense model "
                 f"{latency[0]:.1f} us):\n\n"
                 + _rows(latency[1], lambda t: f"{latency[0] - t:.1f}"))
    return text


def _rows(curves: dict[str, list[tuple]], cell) -> str:
    sparsities = [s for s, _ in next(iter(curves.values()))]
    rows = ["| layer | " + " | ".join(f"{s:.0%}" for s in sparsities) + " |",
            "|---" * (len(sparsities) + 1) + "|"]
    rows += [f"| {name} | " + " | ".join(cell(v) for _, v in points) + " |"
             for name, points in curves.items()]
    return "\n".join(rows) + "\n"


def how_to_use(run_id: str, timed: bool, blocks_removed: int = 0) -> str:
    """The `pruning run` options that prune by the run's curves."""
    use = (f"--sparsity-distribution sensitivity --sensitivity runs:/{run_id}/"
           f"{curves_file.FILE}")
    if blocks_removed:  # the curves are of the model without them
        use += f" --residual-blocks-removed {blocks_removed}"
    if timed:
        use += (" (or, to buy latency where it costs least accuracy: "
                "--sparsity-distribution latency, final_sparsity the share of the latency)")
    return use


def run_sensitivity(base, sparsities, experiment_name=None, tracking_uri=None,
                    print_line=print, timed: bool = False) -> tuple[str, float, dict]:
    """The analysis of `base`'s dense model as one MLflow run; returns (run id, baseline,
    accuracies)."""
    splits, start, mlt = opening.open_store(base, experiment_name, tracking_uri)
    params = {**base.to_dict(), "sparsities": ",".join(f"{s:g}" for s in sparsities),
              "latency": timed}
    with mlt.experiment_run(params, opening.name(f"sensitivity-{base.granularity}", base),
                            opening.tags("sensitivity", base, start)) as run_id:
        dense, pretrain_run_id = pipeline.ensure_pretrained(
            base, splits, start, run_id, progress=print_line is not None)
        baseline, accuracies, latency = analyse(dense, splits, base, sparsities, print_line,
                                                timed)
        _log(run_id, base, baseline, accuracies, latency, pretrain_run_id, mlt)
    return run_id, baseline, accuracies


def _log(run_id, base, baseline, accuracies, latency, pretrain_run_id, mlt) -> None:
    # One chart per layer in the MLflow UI: accuracy (and latency) at step = sparsity in
    # percent.
    for i, s in enumerate(s for s, _ in next(iter(accuracies.values()))):
        metrics = {f"sensitivity/{name}": points[i][1] for name, points in accuracies.items()}
        if latency:
            metrics.update({f"latency_us/{name}": points[i][1]
                            for name, points in latency[1].items()})
        mlt.log_results(run_id, metrics, {}, step=round(s * 100))
    mlt.log_results(run_id, {"baseline_val_accuracy": baseline,
                             **({"dense_int8_latency_us": latency[0]} if latency else {})},
                    {"pretrain_run_id": pretrain_run_id or ""})
    mlt.log_text(run_id, curves_file.to_json(base.granularity, baseline, accuracies, latency,
                                             base.residual_blocks_removed),
                 curves_file.FILE)
    text = table(baseline, accuracies, latency)
    mlt.log_text(run_id, text, "sensitivity.md")
    title = f"{base.model} on {base.dataset}, {base.granularity}s pruned one layer at a time"
    figures = {"plots/sensitivity_curves.png": plots.sensitivity_curves(baseline, accuracies,
                                                                        title),
               "plots/sensitivity_heatmap.png": plots.sensitivity_heatmap(baseline, accuracies,
                                                                          title)}
    if latency:
        figures["plots/sensitivity_latency.png"] = plots.sensitivity_tradeoff(
            baseline, accuracies, latency, title)
    mlt.log_figures(run_id, figures, then=plots.close_one)
    use = how_to_use(run_id, latency is not None, base.residual_blocks_removed)
    mlt.set_note(run_id, f"**Sensitivity** of {base.model} on {base.dataset} "
                          + (f"without its {base.residual_blocks_removed} cheapest residual "
                             "blocks " if base.residual_blocks_removed else "") +
                          f"({base.granularity}s; validation accuracy unpruned "
                          f"{baseline:.4f}): accuracy lost, in points, with one layer pruned "
                          f"at a time.\n\n{text}\nTo prune by it, add to this model's "
                          f"`pruning run`: `{use}`\n")
