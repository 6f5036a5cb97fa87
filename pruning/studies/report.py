"""One comparison of finished runs: the accuracy-vs-sparsity frontier, sizes and latencies.

Reads what earlier runs logged (nothing is re-run) and writes PNG plots and a
markdown table to a folder, or logs them as a run of their own.
"""
from __future__ import annotations

from pathlib import Path

from pruning.figures import plots

COLUMNS = ("test_accuracy", "sparsity", "dense_test_accuracy", "tflite_int8_test_accuracy",
           "dense_model_bytes", "model_bytes_gzip", "tflite_int8_bytes_gzip", "size_reduction",
           "dense_latency_us", "latency_us", "dense_int8_latency_us", "int8_latency_us",
           "shrunk_latency_us", "shrunk_tflite_bytes", "speedup", "tflite_sparse_bytes",
           "tflite_sparse_latency_us", "tflite_qat_int8_test_accuracy")

# What each row would ship, best first: the shrunk dense network of unit pruning, else
# the int8 TFLite, else the float one.
SHIPPED = (("shrunk_latency_us", "shrunk_tflite_bytes"),
           ("int8_latency_us", "tflite_int8_bytes_gzip"), ("latency_us", "tflite_bytes_gzip"))


def rows_of(runs: list[dict]) -> list[dict]:
    """Flatten runs (as dicts of run_id, name, tags, metrics) into report rows."""
    rows = []
    for run in runs:
        metrics, tags = run["metrics"], run["tags"]
        if "test_accuracy" not in metrics or "sparsity" not in metrics:
            continue  # pre-trainings, studies, tuning trials: no test result to compare
        group = f"{tags.get('model', '?')}/{tags.get('dataset', '?')}"
        method = tags.get("method", "gradual")
        if tags.get("finetune_epochs", "0") != "0":
            method += "+finetune"
        row = {"run_id": run["run_id"], "name": run["name"], "group": group,
               "method": method, **{k: metrics[k] for k in COLUMNS if k in metrics}}
        latency, size = next(((t, b) for t, b in SHIPPED if t in metrics), (None, None))
        if latency is not None:
            row["shipped_latency_us"] = metrics[latency]
            if size in metrics:
                row["shipped_bytes"] = metrics[size]
        rows.append(row)
    return rows


def frontier(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (sparsity, accuracy) points no other point beats on both."""
    best, out = -1.0, []
    for sparsity, accuracy in sorted(points, key=lambda p: (-p[0], -p[1])):
        if accuracy > best:
            out.append((sparsity, accuracy))
            best = accuracy
    return sorted(out)


# (header, row key or None, format): int8 is compared with int8, float with float.
TABLE = (("group", "group", "{}"), ("method", "method", "{}"), ("run", "name", "{}"),
         ("sparsity", "sparsity", "{:.3f}"), ("test acc", "test_accuracy", "{:.4f}"),
         ("int8 acc", "tflite_int8_test_accuracy", "{:.4f}"),
         ("int8 gz KB", "tflite_int8_bytes_gzip", "kb"), ("size x", "size_reduction", "{:.1f}"),
         ("float us (dense)", "dense_latency_us", "{:.1f}"), ("float us", "latency_us", "{:.1f}"),
         ("int8 us (dense)", "dense_int8_latency_us", "{:.1f}"),
         ("int8 us", "int8_latency_us", "{:.1f}"),
         ("rebuilt us", "shrunk_latency_us", "{:.1f}"), ("speed-up", "speedup", "{:.2f}"))


def _cell(row: dict, key: str, fmt: str) -> str:
    if key not in row:
        return ""
    return f"{row[key] / 1024:.0f}" if fmt == "kb" else fmt.format(row[key])


def markdown(rows: list[dict]) -> str:
    """One row per run; the columns no run has are left out."""
    columns = [c for c in TABLE if any(c[1] in r for r in rows)]
    lines = ["| " + " | ".join(h for h, _, _ in columns) + " |", "|" + "---|" * len(columns)]
    for r in sorted(rows, key=lambda r: (r["group"], r["method"], r.get("sparsity", 0))):
        lines.append("| " + " | ".join(_cell(r, k, f) for _, k, f in columns) + " |")
    return "\n".join(lines) + "\n"


def figures(rows: list[dict]) -> dict[str, object]:
    curves = {}
    for r in rows:
        curves.setdefault(f"{r['group']} {r['method']}", []).append(
            (r["sparsity"], r["test_accuracy"]))
    fronts = {label: frontier(points) for label, points in curves.items()}
    shipped = {}
    for r in rows:
        if "shipped_latency_us" in r:
            shipped.setdefault(f"{r['group']} {r['method']}", []).append(
                (r["shipped_latency_us"], r.get("shipped_bytes", float("nan")),
                 r["test_accuracy"]))
    out = {"accuracy_frontier.png": plots.frontier(curves, fronts)}
    if shipped:
        out["accuracy_vs_cost.png"] = plots.accuracy_vs_cost(shipped)
    return out


def write(rows: list[dict], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.md").write_text(markdown(rows))
    paths = [folder / "report.md"]
    figs = figures(rows)
    for name, fig in figs.items():
        fig.savefig(folder / name, dpi=110)
        paths.append(folder / name)
    plots.close(figs.values())
    return paths
