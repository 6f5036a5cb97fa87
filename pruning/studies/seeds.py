"""One experiment over several seeds: a child run per seed under a parent that logs
`<metric>_mean`, `<metric>_std` and `<metric>_min`, so a margin of a tenth of a point
is seen next to the spread it sits in.

Seeds share nothing but the config: `seed` is part of the dense model's key, so each
child trains (or finds in the cache) its own dense model, split and data order. With
`register_model`, every seed's model is a version and `champion` goes to the one best on
validation (each seed contends in turn, by the registry's one rule).
"""
from __future__ import annotations

import math

from pruning import tracking as mlt
from pruning.experiment import describe, pipeline
from pruning.studies import opening

# Shown first in the parent's table and summary: what targets are checked against.
HEADLINE = ("test_accuracy", "tflite_int8_test_accuracy", "dense_test_accuracy",
            "size_reduction", "int8_latency_us", "dense_int8_latency_us")


def summarize(per_seed: list[dict[str, float]]) -> dict[str, float]:
    """Mean, sample standard deviation (n - 1; 0 for one seed) and minimum of every
    model-wide metric all seeds have (per-layer `a/b` metrics are left to the children)."""
    common = set.intersection(*(set(m) for m in per_seed)) if per_seed else set()
    out = {}
    for key in sorted(k for k in common if "/" not in k):
        values = [float(m[key]) for m in per_seed]
        mean = math.fsum(values) / len(values)
        var = (math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
               if len(values) > 1 else 0.0)
        out.update({f"{key}_mean": mean, f"{key}_std": math.sqrt(var),
                    f"{key}_min": min(values)})
    return out


def table(seeds: tuple[int, ...], per_seed: list[dict[str, float]], run_ids=None) -> str:
    """Markdown: one row per seed, then mean +- std and min, for the headline metrics."""
    keys = [k for k in HEADLINE if all(k in m for m in per_seed)]
    stats = summarize(per_seed)
    rows = ["| seed | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for i, (seed, metrics) in enumerate(zip(seeds, per_seed)):
        run = f" (run `{run_ids[i][:8]}`)" if run_ids and run_ids[i] else ""
        rows.append(f"| {seed}{run} | " + " | ".join(_fmt(k, metrics[k]) for k in keys) + " |")
    rows.append("| mean +- std | " + " | ".join(
        f"{_fmt(k, stats[k + '_mean'])} +- {_fmt(k, stats[k + '_std'])}" for k in keys) + " |")
    rows.append("| min | " + " | ".join(_fmt(k, stats[k + "_min"]) for k in keys) + " |")
    return "\n".join(rows) + "\n"


def _fmt(key: str, value: float) -> str:
    if "accuracy" in key:
        return f"{value:.4f}"
    return f"{value:.1f}"


def line(seeds: tuple[int, ...], stats: dict[str, float]) -> str:
    """The command's result line over seeds."""
    acc = (f"test accuracy {stats['test_accuracy_mean']:.4f} +- {stats['test_accuracy_std']:.4f} "
           f"(min {stats['test_accuracy_min']:.4f})")
    size = (f"{stats['size_reduction_mean']:.1f}x +- {stats['size_reduction_std']:.1f} "
            f"(min {stats['size_reduction_min']:.1f}x)" if "size_reduction_mean" in stats else "")
    return (f"over seeds {','.join(map(str, seeds))}: {acc}"
            + (f"; size reduction {size}" if size else ""))


def run_seeds(config, seeds: tuple[int, ...], tracking: bool = True, progress=None,
              experiment_name: str | None = None, tracking_uri: str | None = None,
              checked=None, print_line=print, register_model: str | None = None):
    """Run `config` once per seed. Returns (per-seed results, summary, parent run id)."""
    def one(seed: int, parent: str | None):
        seeded = config.replace(seed=seed)
        observers = [progress(seeded, f"seed {seed} ")] if progress else []
        # The caller checked the config's own seed; another seed splits the data anew.
        result = pipeline.run(seeded, tracking=tracking, observers=observers,
                                parent_run_id=parent,
                                name=f"{describe.run_name(seeded)}-seed{seed}",
                                model_name=f"{describe.model_name(seeded)}-seed{seed}",
                                checked=checked if seed == config.seed else None,
                                register_model=register_model)
        print_line(f"seed {seed}: " + describe.result_line(result.config, result.metrics))
        if result.registration:
            print_line(f"seed {seed}: {result.registration}")
        return result

    if not tracking:
        results = [one(s, None) for s in seeds]
        return results, summarize([r.metrics for r in results]), None
    mlt.check_store(experiment_name, tracking_uri, describe.experiment_name(config))
    params = {**{k: v for k, v in config.to_dict().items() if k != "seed"},
              "seeds": ",".join(map(str, seeds))}
    name = f"{describe.run_name(config)}-seeds{len(seeds)}"
    with mlt.experiment_run(params, name, opening.tags("seeds", config)) as parent:
        results = [one(s, parent) for s in seeds]
        per_seed = [r.metrics for r in results]
        stats = summarize(per_seed)
        text = table(seeds, per_seed, [r.run_id for r in results])
        mlt.log_results(parent, stats, {"n_seeds": len(seeds)})
        mlt.log_text(parent, text, "seeds.md")
        registered = "".join(f"- seed {s}: {r.registration}\n" for s, r in zip(seeds, results)
                             if r.registration)
        mlt.set_note(parent, f"{name}: {line(seeds, stats)}\n\n{text}"
                     + (f"\n{registered}" if registered else ""))
    return results, stats, parent
