"""How to search around an experiment: an Optuna study's config (TuneConfig) and a
sweep's (SweepConfig). What they search around is an ExperimentConfig (pruning.config);
these follow its rules: frozen, every default here, validated on construction.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .fields import Conversions, check_fields
from .fields import declare as _f


# Searched by default. begin/end are shares of the retraining and the mask updates a
# count, not a step interval, so every trial is valid whatever its number of epochs and
# the size of the data; initial/final sparsity stay fixed unless added.
DEFAULT_SEARCH = ("retrain_epochs=int:2:12; begin_fraction=float:0.0:0.3; "
                  "end_fraction=float:0.4:0.9; power=float:1:5; mask_updates=int:4:100:log; "
                  "retrain_lr=float:1e-5:2e-3:log")


@dataclass(frozen=True)
class TuneConfig(Conversions):
    """How to search; what to search around is an ExperimentConfig (the base)."""
    n_trials: int = _f(20, "trials this process runs (each worker runs its own)")
    timeout: float = _f(0.0, "stop starting trials after this many seconds; 0: no limit")
    study_name: str = _f("", "Optuna study name; the same name and storage resume it; "
                             "empty: <model>-<dataset>-<objective>")
    storage: str = _f("", "Optuna storage: sqlite:///f.db, postgresql://..., or a journal "
                          "file path ending in .log; empty: optuna.db beside the MLflow store")
    objective: str = _f("accuracy", "accuracy: maximise validation accuracy at the target "
                                    "sparsity; pareto: accuracy against pareto_metric",
                        ("accuracy", "pareto"))
    pareto_metric: str = _f("sparsity", "second objective of objective=pareto: final sparsity "
                                        "(searched), gzipped model size, or batch-1 int8 "
                                        "LiteRT latency (each trial converts and times its "
                                        "model; search granularity=cat:weight|channel to "
                                        "see what removing channels buys)",
                            ("sparsity", "size", "latency"))
    trial_pruner: str = _f("median", "Optuna pruner that stops unpromising trials early "
                                     "(stops trials, not weights); none with objective=pareto",
                           ("median", "hyperband", "none"))
    sampler: str = _f("tpe", "Optuna sampler", ("tpe", "random"))
    search: str = _f(DEFAULT_SEARCH, "search space: NAME=int|float:LOW:HIGH[:log] or "
                                     "NAME=cat:A|B entries separated by ';'")
    heartbeat_interval: int = _f(30, "seconds between a running trial's heartbeats (RDB "
                                     "storages); a trial silent for grace_period is failed")
    grace_period: int = _f(90, "seconds without heartbeat after which a trial counts as lost")
    max_retry: int = _f(1, "times a lost (heartbeat-stale) trial is re-queued")

    def __post_init__(self):
        from . import search_space

        check_fields(self)
        for name in ("n_trials", "heartbeat_interval", "grace_period"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"{name}={getattr(self, name)} must be >= 1")
        for name in ("timeout", "max_retry"):
            if getattr(self, name) < 0:
                raise ConfigError(name, f"{name}={getattr(self, name)} must be >= 0")
        if self.objective == "pareto" and self.trial_pruner != "none":
            raise ConfigError("trial_pruner", "trial_pruner must be none with objective=pareto "
                              "(Optuna cannot stop multi-objective trials early)")
        search_space.parse(self.search)
        if self.storage.endswith(".log") and "://" not in self.storage \
                and not Path(self.storage).expanduser().absolute().parent.is_dir():
            raise ConfigError("storage", f"storage={self.storage!r}: the folder of this "
                              "journal file does not exist; create it or choose another path")


@dataclass(frozen=True)
class SweepConfig(Conversions):
    """One-shot (and optionally gradual) pruning of one dense model at many sparsities."""
    sparsities: str = _f("0,0.25,0.5,0.6,0.7,0.8,0.9,0.95,0.97,0.99",
                         "comma-separated target sparsities (fractions in [0, 1))")
    methods: str = _f("weight,unit,global", "comma-separated methods: weight (layer-wise "
                                           "magnitude), unit (whole Dense units by norm), "
                                           "channel (whole conv channels and Dense units), "
                                           "global (one magnitude threshold), gradual "
                                           "(retraining at the base granularity; slow)")
    finetune_epochs: int = _f(0, "epochs of training after each one-shot pruning, at the "
                                 "base retrain_lr with the masks fixed (unit and channel "
                                 "train the rebuilt smaller network); 0: none")

    def __post_init__(self):
        from .methods import METHODS

        try:
            values = self.sparsity_list()
        except ValueError:
            raise ConfigError("sparsities", f"sparsities={self.sparsities!r} is not a "
                              "comma-separated list of numbers") from None
        for value in values:
            if not 0.0 <= value < 1.0:
                raise ConfigError("sparsities", f"sparsities: {value} is outside [0, 1)")
        if self.finetune_epochs < 0:
            raise ConfigError("finetune_epochs", f"finetune_epochs={self.finetune_epochs} "
                              "must be >= 0")
        for method in self.method_list():
            METHODS.get(method)

    def sparsity_list(self) -> list[float]:
        return [float(v) for v in self.sparsities.split(",") if v.strip()]

    def method_list(self) -> list[str]:
        return [m.strip() for m in self.methods.split(",") if m.strip()]
