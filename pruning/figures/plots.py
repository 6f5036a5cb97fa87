"""Figures: data in, matplotlib figure out. Nothing here trains, saves or logs."""
from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")  # headless: figures are logged, never shown
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def _axes(ax, xlabel: str, ylabel: str, title: str | None = None, legend: dict | None = None):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(**(legend or {}))
    if title:
        ax.set_title(title)


def training_curves(history: list[dict[str, float]], prune_start_epoch: int, title: str,
                    start_label: str = "pruning starts", later=()):
    """Accuracy and loss per epoch across both phases; a line where pruning starts, and
    one at each of `later` ((epoch, label): e.g. where the rebuilt model takes over)."""
    epochs = list(range(len(history)))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("accuracy", "loss")):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = [h.get(prefix + metric) for h in history]
            ax.plot(epochs, values, style, marker=".", label=prefix + metric)
        ax.axvline(prune_start_epoch - 0.5, color="grey", linestyle=":", label=start_label)
        for epoch, label in later:
            ax.axvline(epoch - 0.5, color="grey", linestyle="-.", label=label)
        _axes(ax, "epoch (dense training, then pruning)" if prune_start_epoch
              else "epoch (pruning a trained model)", metric)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def sparsity_over_steps(schedule_steps, schedule, target_steps, target, actual_steps, actual,
                        window, initial: float, final: float, title: str,
                        what: str = "sparsity of the pruned weights"):
    """The schedule (its curve from initial_sparsity at begin_step to final_sparsity at
    end_step), the sparsity the masks hold after each step (tfmot updates them every
    `frequency` steps), and the zeros measured at every epoch end."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(schedule_steps, schedule, "--", color="tab:gray", label="schedule")
    ax.plot(target_steps, target, color="tab:blue", label="masks in force (updated every "
            f"{window.frequency} steps)")
    ax.plot(actual_steps, actual, "o", color="tab:orange", label="measured at each epoch end")
    for step, value, name in ((window.begin_step, initial, "initial_sparsity"),
                              (window.end_step, final, "final_sparsity")):
        ax.plot([step], [value], "s", color="tab:gray")
        ax.annotate(f"{name} {value:.0%}\nstep {step}", (step, value), fontsize=8,
                    xytext=(6, -22 if name == "final_sparsity" else 6),
                    textcoords="offset points")
    ax.set_ylim(0, 1)
    _axes(ax, "retraining step", what, title, {"loc": "lower right"})
    fig.tight_layout()
    return fig


def layer_sparsity(sizes: dict[str, int], per_layer: dict[str, float], title: str):
    """Weights kept and removed in each pruned layer, its sparsity on top: where the
    model-wide sparsity was taken from."""
    names = list(per_layer)
    kept = [sizes[n] * (1 - per_layer[n]) for n in names]
    removed = [sizes[n] * per_layer[n] for n in names]
    fig, ax = plt.subplots(figsize=(max(6, 0.4 * len(names) + 2), 4.5))
    ax.bar(range(len(names)), kept, color="tab:blue", label="kept")
    bars = ax.bar(range(len(names)), removed, bottom=kept, color="tab:red", alpha=0.45,
                  label="removed")
    ax.bar_label(bars, labels=[f"{per_layer[n]:.0%}" for n in names], fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=60 if len(names) > 6 else 0,
                  ha="right" if len(names) > 6 else "center", fontsize=8)
    if max(sizes.values()) > 20 * min(sizes.values()):
        ax.set_yscale("log")
        # Below the smallest bar: a log axis left to itself can start above a small
        # layer's kept weights and hide them.
        ax.set_ylim(bottom=max(1.0, min([k for k in kept if k > 0] or [1.0])) / 2)
    _axes(ax, "pruned layer", "weights", f"{title}: sparsity per layer", {"fontsize": 8})
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
    out = {name: (ax.figure if hasattr(ax, "figure") else ax.flat[0].figure)
           for name, ax in figures.items()}
    _readable(out, target_name)
    trials = [(t.values[0], t.params, t.number) for t in complete if t.params]
    if trials:
        out["trials"] = trials_scatter(trials, target_name)
    return out


def _readable(figures: dict, target_name: str) -> None:
    """Optuna's figures with named axes, room for their labels and a size to read them."""
    for name, fig in figures.items():
        fig.set_size_inches(11, 6)
        for ax in fig.axes:
            if ax.get_ylabel() in ("Objective Value", "Intermediate Value"):
                ax.set_ylabel(target_name if ax.get_ylabel() == "Objective Value"
                              else f"{target_name} after each retraining epoch")
            if ax.get_xlabel() == "Step":
                ax.set_xlabel("retraining epoch")
            if ax.get_xlabel() in ("Trial", "retraining epoch"):
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            for text in (ax.get_legend().get_texts() if ax.get_legend() else []):
                if text.get_text() == "Objective Value":
                    text.set_text(f"{target_name} of a trial")
            if name == "parallel_coordinate":  # long parameter names: slanted, with room
                for label in ax.get_xticklabels():
                    label.set(rotation=25, ha="right", fontsize=8)
        fig.tight_layout()


def trials_scatter(trials: list[tuple], target_name: str):
    """Every completed trial's objective against each value that was searched, one panel
    per parameter, labelled with the trial's number (#0: the starting config).
    (value, {parameter: value}, number) tuples."""
    names = sorted({k for _, params, _ in trials for k in params})
    columns = min(3, len(names))
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows),
                             squeeze=False)
    for ax, name in zip(axes.flat, names):
        points = [(params[name], value, n) for value, params, n in trials if name in params]
        if all(isinstance(x, (int, float)) for x, _, _ in points):
            xs = [float(x) for x, _, _ in points]
            if min(xs) > 0 and max(xs) / min(xs) > 20:  # a log-searched rate
                ax.set_xscale("log")
        else:  # categorical: one column per choice
            choices = sorted({str(x) for x, _, _ in points})
            points = [(choices.index(str(x)), v, n) for x, v, n in points]
            ax.set_xticks(range(len(choices)), choices)
        ax.scatter([x for x, _, _ in points], [v for _, v, _ in points], s=22)
        for x, v, n in points:
            ax.annotate(f"#{n}", (x, v), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(name)
        ax.set_ylabel(target_name)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.suptitle("every completed trial against what was searched (#0: the starting config)")
    fig.tight_layout()
    return fig


def close(figures) -> None:
    for fig in figures:
        plt.close(fig)


def close_one(figure) -> None:
    """A figure once saved (the tracking layer calls it after the upload)."""
    plt.close(figure)


def sensitivity_curves(baseline: float, accuracies: dict[str, list[tuple]], title: str):
    """Validation accuracy against the sparsity of one layer, one line per layer."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, points in accuracies.items():
        ax.plot([s for s, _ in points], [a for _, a in points], marker=".", label=name)
    ax.axhline(baseline, color="grey", linestyle=":", label="unpruned")
    _axes(ax, "sparsity of that layer alone", "validation accuracy", title,
          {"fontsize": 7, "ncol": 1 + len(accuracies) // 12})
    fig.tight_layout()
    return fig


def sensitivity_heatmap(baseline: float, accuracies: dict[str, list[tuple]], title: str):
    """Layer x sparsity -> accuracy lost (points): the layers that can go are pale."""
    names = list(accuracies)
    sparsities = [s for s, _ in accuracies[names[0]]]
    drops = [[(baseline - a) * 100 for _, a in accuracies[n]] for n in names]
    fig, ax = plt.subplots(figsize=(1.5 + 0.9 * len(sparsities), 1.2 + 0.32 * len(names)))
    image = ax.imshow(drops, cmap="Reds", aspect="auto", vmin=0)
    ax.set_xticks(range(len(sparsities)), [f"{s:.0%}" for s in sparsities])
    ax.set_yticks(range(len(names)), names, fontsize=7)
    dark = 0.6 * max(max(row) for row in drops)  # white text where the red is deep
    for i, row in enumerate(drops):
        for j, value in enumerate(row):
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=7,
                    color="white" if value > dark else "black")
    fig.colorbar(image, ax=ax, label="accuracy lost (points)")
    ax.set_xlabel("sparsity of that layer alone")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def sensitivity_tradeoff(baseline: float, accuracies: dict[str, list[tuple]],
                         latency: tuple[float, dict[str, list[tuple]]], title: str):
    """Accuracy lost against batch-1 latency saved, one line per group pruned alone from
    (0, 0) through its sparsities: the groups that buy speed cheaply run low and far
    right, those that cost accuracy for nothing climb at the left."""
    dense, timed = latency
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, points in accuracies.items():
        saved = [0.0]
        for _, t in timed[name]:  # a slow outlier (timing noise only adds) keeps the best
            saved.append(max(saved[-1], dense - t))
        lost = [0.0] + [(baseline - a) * 100 for _, a in points]
        (line,) = ax.plot(saved, lost, marker=".", linewidth=1)
        ax.annotate(name, (saved[-1], lost[-1]), fontsize=6, color=line.get_color(),
                    xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel(f"batch-1 int8 latency saved (us, the most of this and the lighter cuts; "
                  f"dense model {dense:.0f} us)")
    ax.set_ylabel("validation accuracy lost (points)")
    ax.set_title(title + "\n(points at each sparsity, from none)", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
