"""How to search around an experiment: an Optuna study's config (TuneConfig) and a
sweep's (SweepConfig). What they search around is an ExperimentConfig (pruning.config);
these follow its rules: frozen, every default here, validated on construction.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pruning.errors import ConfigError
from pruning.config.fields import Conversions, check_fields
from pruning.config.fields import declare as _f
from pruning.studies import search_space, storage_urls
from pruning.studies.methods import METHODS


# Searched by default: the space around the starting config (search_space.around).
# begin/end are shares of the retraining and the mask updates a count, not a step
# interval, so every trial is valid whatever its number of epochs and the size of the
# data; initial/final sparsity stay fixed unless added.
DEFAULT_SEARCH = search_space.AUTO


@dataclass(frozen=True)
class TuneConfig(Conversions):
    """How to search; what to search around is an ExperimentConfig (the base)."""
    n_trials: int = _f(20, "trials this process runs (each worker runs its own)")
    timeout: float = _f(0.0, "stop starting trials after this many seconds; 0: no limit")
    study_name: str = _f("", "Optuna study name; the same name and storage resume it; "
                             "empty: <model>-<dataset>-<objective>")
    storage: str = _f("", "Optuna storage: sqlite:///f.db, postgresql://..., a journal "
                          "file path ending in .log, or grpc://HOST:PORT (an Optuna storage "
                          "proxy in front of a database, for many workers: pruning "
                          "storage-proxy); empty: optuna.db beside the MLflow store")
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
    search: str = _f(DEFAULT_SEARCH, "search space, entries separated by ';': auto (around "
                                     "the starting config: retrain_epochs from half to "
                                     "twice its own, retrain_lr from /4 to x4, the window's "
                                     "begin and end, power, mask_updates), "
                                     "NAME=int|float:LOW:HIGH[:log], NAME=cat:A|B, or "
                                     "NAME=off; --search adds entries to it")
    heartbeat_interval: int = _f(30, "seconds between a running trial's heartbeats (RDB "
                                     "and grpc storages); a trial silent for grace_period "
                                     "is failed")
    grace_period: int = _f(90, "seconds without heartbeat after which a trial counts as lost")
    max_retry: int = _f(1, "times a lost (heartbeat-stale) trial is re-queued")

    def __post_init__(self):
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
        if self.storage:
            storage_urls.kind_of(self.storage)
        if self.storage.endswith(".log") and "://" not in self.storage \
                and not Path(self.storage).expanduser().absolute().parent.is_dir():
            raise ConfigError("storage", f"storage={self.storage!r}: the folder of this "
                              "journal file does not exist; create it or choose another path")


@dataclass(frozen=True)
class ProxyConfig(Conversions):
    """Optuna's gRPC storage proxy in front of one database: workers hold a gRPC channel
    each, the proxy a bounded pool of database connections."""
    storage: str = _f("", "the database the proxy serves: postgresql://..., mysql://... "
                          "or sqlite:///f.db (Optuna's proxy does not serve journal files)")
    host: str = _f("localhost", "address to listen on; 0.0.0.0 to serve other machines "
                                "(the proxy has no authentication: a private network only)")
    port: int = _f(13000, "port to listen on")
    threads: int = _f(16, "requests served at once (they share the pool's connections)")
    pool_size: int = _f(8, "database connections the proxy keeps open (SQLAlchemy pool), "
                           "whatever the number of workers")

    def __post_init__(self):
        check_fields(self)
        if not self.storage:
            raise ConfigError("storage", "storage: give the database the proxy serves, e.g. "
                              "postgresql+psycopg://USER:PASSWORD@HOST:5432/optuna")
        if storage_urls.kind_of(self.storage) != "rdb":
            raise ConfigError("storage", f"storage={self.storage!r}: the proxy serves a "
                              "database (postgresql://..., mysql://..., sqlite:///f.db)")
        if not 0 < self.port < 65536:
            raise ConfigError("port", f"port={self.port} must be in 1..65535")
        for name in ("threads", "pool_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"{name}={getattr(self, name)} must be >= 1")


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
    distributions: str = _f("", "comma-separated sparsity distributions that share each "
                                "sparsity among the layers, one series each: uniform, erk, "
                                "sensitivity (the curves named by sensitivity); for weight, "
                                "unit, channel and gradual (global has its own); empty: the "
                                "base's sparsity_distribution")
    finetune_epochs: int = _f(0, "epochs of training after each one-shot pruning, at the "
                                 "base retrain_lr with the masks fixed (unit and channel "
                                 "train the rebuilt smaller network); 0: none")

    def __post_init__(self):
        from pruning.sparsity.distributions import DISTRIBUTIONS
        self.sparsity_list()
        if self.finetune_epochs < 0:
            raise ConfigError("finetune_epochs", f"finetune_epochs={self.finetune_epochs} "
                              "must be >= 0")
        for method in self.method_list():
            METHODS.get(method)
        for name in self.distribution_list():
            DISTRIBUTIONS.get(name)

    def sparsity_list(self) -> list[float]:
        return _sparsity_list(self.sparsities)

    def method_list(self) -> list[str]:
        return [m.strip() for m in self.methods.split(",") if m.strip()]

    def distribution_list(self) -> list[str]:
        return [d.strip() for d in self.distributions.split(",") if d.strip()]

    def series(self, base_distribution: str) -> list[tuple[str, str, str]]:
        """(method, distribution, label) of every curve: a method once per distribution
        (global once: its one threshold is its distribution); labels name the
        distribution when there are several."""
        distributions = self.distribution_list() or [base_distribution]
        out = []
        for method in self.method_list():
            shared = METHODS.get(method).shares_per_layer
            for d in distributions if shared else distributions[:1]:
                several = len(distributions) > 1 and shared
                out.append((method, d, f"{method}-{d}" if several else method))
        return out


@dataclass(frozen=True)
class SensitivityConfig(Conversions):
    """Which sparsities each layer is pruned to, alone, in a sensitivity analysis."""
    sparsities: str = _f("0.5,0.7,0.8,0.9,0.95,0.98", "comma-separated sparsities each "
                                                     "layer (or channel group) is pruned to, "
                                                     "one layer at a time")
    latency: bool = _f(False, "also time each group's model rebuilt smaller (batch-1 int8 "
                              "LiteRT) at every sparsity, unit/channel granularity only: the "
                              "curves sparsity_distribution=latency reads")

    def __post_init__(self):
        if not self.sparsity_list():
            raise ConfigError("sparsities", "sparsities: give at least one, e.g. 0.5,0.9")

    def sparsity_list(self) -> list[float]:
        return sorted(set(_sparsity_list(self.sparsities)))


def _sparsity_list(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError("sparsities", f"sparsities={text!r} is not a comma-separated "
                          "list of numbers") from None
    for value in values:
        if not 0.0 <= value < 1.0:
            raise ConfigError("sparsities", f"sparsities: {value} is outside [0, 1)")
    return values
