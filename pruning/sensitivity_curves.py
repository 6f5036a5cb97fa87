"""What a `pruning sensitivity` run measured, as a file: sensitivity.json.

Written by the analysis (pruning.sensitivity), read back by `sparsity_distribution =
"sensitivity"` from a path or a `runs:/<run_id>/sensitivity.json` URI. No TensorFlow.
"""
from __future__ import annotations

import functools
import json

from .errors import ConfigError, UserError

FILE = "sensitivity.json"


def to_json(granularity: str, baseline: float, accuracies: dict[str, list[tuple]]) -> str:
    """accuracies: {layer or channel group: [(sparsity, validation accuracy), ...]}."""
    return json.dumps({"granularity": granularity, "baseline_val_accuracy": baseline,
                       "layers": {name: [[s, a] for s, a in points]
                                  for name, points in accuracies.items()}}, indent=1)


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
        from . import tracking  # the only way to MLflow

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


def curves_of(config) -> dict | None:
    """The accuracy-drop curves config's sparsity distribution needs, else None."""
    if config.sparsity_distribution != "sensitivity":
        return None
    document = load(config.sensitivity)
    if document.get("granularity") != config.granularity:
        raise ConfigError("sensitivity", f"sensitivity: the curves were measured at "
                          f"granularity={document.get('granularity')}, this run prunes at "
                          f"granularity={config.granularity}; measure it at that granularity")
    return drops(document)
