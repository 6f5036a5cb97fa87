"""Figures: data in, matplotlib figure out. Nothing here trains, saves or logs."""
from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")  # headless: figures are logged, never shown
import matplotlib.pyplot as plt  # noqa: E402


def _axes(ax, xlabel: str, ylabel: str, title: str | None = None, legend: dict | None = None):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(**(legend or {}))
    if title:
        ax.set_title(title)


def training_curves(history: list[dict[str, float]], prune_start_epoch: int, title: str):
    """Accuracy and loss per epoch across both phases; a line where pruning starts."""
    epochs = list(range(len(history)))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("accuracy", "loss")):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = [h.get(prefix + metric) for h in history]
            ax.plot(epochs, values, style, marker=".", label=prefix + metric)
        ax.axvline(prune_start_epoch - 0.5, color="grey", linestyle=":", label="pruning starts")
        _axes(ax, "epoch (dense training, then pruning)", metric)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def sparsity_over_steps(target_steps, target, actual_steps, actual, window, title: str):
    """The schedule's sparsity at every step against the measured sparsity at epoch ends."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(target_steps, target, label="target (schedule, masks in force)")
    ax.plot(actual_steps, actual, "o", label="actual (zeros in pruned weights)")
    for step, name in ((window.begin_step, "begin_step"), (window.end_step, "end_step")):
        ax.axvline(step, color="grey", linestyle=":")
        ax.annotate(name, (step, 0.98), rotation=90, fontsize=8, color="grey", va="top")
    ax.set_ylim(0, 1)
    _axes(ax, "retraining step", "sparsity", title, {"loc": "lower right"})
    fig.tight_layout()
    return fig


def layer_sparsity(per_layer: dict[str, float], title: str):
    """Final sparsity of each pruned layer."""
    names = list(per_layer)
    fig, ax = plt.subplots(figsize=(max(5, 0.35 * len(names) + 2), 4))
    bars = ax.bar(range(len(names)), [per_layer[n] for n in names])
    ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=60 if len(names) > 6 else 0,
                  ha="right" if len(names) > 6 else "center", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("sparsity")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def sweep_curves(curves: dict[str, list[tuple]], column: int, label: str, title: str):
    """One curve per method: `curves[method]` holds (sparsity, accuracy, loss) points."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, points in curves.items():
        points = sorted(points)
        ax.plot([p[0] for p in points], [p[column] for p in points], marker="o", label=method)
    _axes(ax, "sparsity (share of prunable weights that are zero)", label, title)
    fig.tight_layout()
    return fig


def frontier(curves: dict[str, list[tuple]], fronts: dict[str, list[tuple]]):
    """Every run as a point, and each group's accuracy-vs-sparsity frontier as a line."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for label, points in curves.items():
        line, = ax.plot(*zip(*fronts[label]), marker="", label=label)
        ax.scatter(*zip(*points), color=line.get_color(), s=18)
    _axes(ax, "sparsity", "test accuracy", "accuracy against sparsity: runs and frontiers",
          {"fontsize": 8})
    fig.tight_layout()
    return fig


def accuracy_vs_cost(points: dict[str, list[tuple]]):
    """What pruning saves when shipped: accuracy against batch-1 latency and file size,
    one marker series per group and method ((latency_us, bytes, accuracy) points)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for label, values in points.items():
        latency, size, accuracy = zip(*values)
        axes[0].scatter(latency, accuracy, s=18, label=label)
        axes[1].scatter([b / 1024 for b in size], accuracy, s=18, label=label)
    _axes(axes[0], "batch-1 latency of the shipped model (us)", "test accuracy",
          "accuracy against latency", {"fontsize": 7})
    _axes(axes[1], "shipped file (KB)", "test accuracy", "accuracy against size",
          {"fontsize": 7})
    for ax in axes:
        ax.set_xscale("log")
    fig.tight_layout()
    return fig


def study_figures(study, pareto: bool, objective_names: tuple[str, str]) -> dict[str, object]:
    """Optuna's own plots of a study (matplotlib backend), by name."""
    import optuna
    from optuna.visualization import matplotlib as ovm

    with warnings.catch_warnings():  # Optuna marks its matplotlib plots experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _study_figures(study, ovm, pareto, objective_names)


def _study_figures(study, ovm, pareto, objective_names):
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return {}
    target = (lambda t: t.values[0]) if pareto else None
    target_name = objective_names[0]
    figures = {}
    if pareto:
        figures["pareto_front"] = ovm.plot_pareto_front(study,
                                                        target_names=list(objective_names))
    else:
        figures["optimization_history"] = ovm.plot_optimization_history(study)
        figures["intermediate_values"] = ovm.plot_intermediate_values(study)
    figures["parallel_coordinate"] = ovm.plot_parallel_coordinate(study, target=target,
                                                                  target_name=target_name)
    if len(complete) >= 2 and len({tuple(sorted(t.params.items())) for t in complete}) >= 2:
        figures["param_importances"] = ovm.plot_param_importances(study, target=target,
                                                                  target_name=target_name)
    return {name: (ax.figure if hasattr(ax, "figure") else ax.flat[0].figure)
            for name, ax in figures.items()}


def close(figures) -> None:
    for fig in figures:
        plt.close(fig)
