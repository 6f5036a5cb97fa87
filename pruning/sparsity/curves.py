"""What a `pruning sensitivity` run measured, as a file: sensitivity.json.

Written by the analysis (pruning.studies.sensitivity), read back by `sparsity_distribution =
"sensitivity"` from a path or a `runs:/<run_id>/sensitivity.json` URI. No TensorFlow.
"""
from __future__ import annotations

import functools
import json

from pruning.sparsity.distributions import DISTRIBUTIONS
from pruning.errors import ConfigError, UserError

FILE = "sensitivity.json"


def to_json(granularity: str, baseline: float, accuracies: dict[str, list[tuple]],
            latency: tuple[float, dict[str, list[tuple]]] | None = None,
            residual_blocks_removed: int = 0) -> str:
    """accuracies: {layer or channel group: [(sparsity, validation accuracy), ...]};
    latency: (the dense model's batch-1 int8 latency in us, {group: [(sparsity, latency of
    the model rebuilt without that group's share)]}), when timed; both of the model
    without `residual_blocks_removed` residual blocks."""
    document = {"granularity": granularity, "residual_blocks_removed": residual_blocks_removed,
                "baseline_val_accuracy": baseline,
                "layers": {name: [[s, a] for s, a in points]
                           for name, points in accuracies.items()}}
    if latency is not None:
        document["baseline_latency_us"] = latency[0]
        document["latency_us"] = {name: [[s, t] for s, t in points]
                                  for name, points in latency[1].items()}
    return json.dumps(document, indent=1)


def drops(document: dict) -> dict[str, list[tuple[float, float]]]:
    """{layer: [(sparsity, accuracy lost against the unpruned model)]}."""
    base = document["baseline_val_accuracy"]
    return {name: [(s, base - a) for s, a in points]
            for name, points in document["layers"].items()}


@functools.lru_cache(maxsize=8)
def load(source: str) -> dict:
    """The document at `source` (a file, or an MLflow artifact URI), checked."""
    path = source
    if "://" in source or source.startswith("runs:/"):
        from pruning import tracking

        try:
            path = tracking.download(source)
        except UserError as e:
            raise ConfigError("sensitivity", f"sensitivity: {e}".replace(" config: ", " "))
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
        curves = drops(document)
        if not curves or any(not all(0 <= s < 1 for s, _ in c) for c in curves.values()):
            raise ValueError
    except OSError as e:
        raise ConfigError("sensitivity", f"sensitivity: cannot read {source!r}: "
                          f"{e.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError("sensitivity", f"sensitivity: {source!r} is not the {FILE} of a "
                          "`pruning sensitivity` run") from None
    return document


def with_savings(document: dict) -> dict[str, list[tuple[float, float, float]]]:
    """{group: [(sparsity, accuracy lost, share of the dense latency saved)]}: what the
    `latency` distribution trades."""
    base, timed = document["baseline_latency_us"], document["latency_us"]
    return {name: [(s, d, (base - t) / base) for (s, d), (_, t) in zip(points, timed[name])]
            for name, points in drops(document).items()}


def curves_of(config) -> dict | None:
    """The curves config's sparsity distribution needs (accuracy drops; for `latency`
    with the latency saved), else None."""
    if not config.reads_curves():
        return None
    document = load(config.sensitivity)
    if document.get("granularity") != config.granularity:
        raise ConfigError("sensitivity", f"sensitivity: the curves were measured at "
                          f"granularity={document.get('granularity')}, this run prunes at "
                          f"granularity={config.granularity}; measure it at that granularity")
    measured = document.get("residual_blocks_removed", 0)
    if measured != config.residual_blocks_removed:
        raise ConfigError("sensitivity", f"sensitivity: the curves were measured with "
                          f"residual_blocks_removed={measured}, this run removes "
                          f"{config.residual_blocks_removed}; measure them with the same")
    if DISTRIBUTIONS.get(config.sparsity_distribution).curves == "latency":
        if "latency_us" not in document:
            raise ConfigError("sensitivity", f"sensitivity: {config.sensitivity!r} has no "
                              "latencies; measure them with `pruning sensitivity --latency`")
        return with_savings(document)
    return drops(document)
