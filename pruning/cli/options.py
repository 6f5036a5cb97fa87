"""`pruning` command line, its arguments: the only place that parses them.

Every config field is a flag with the MLproject parameter's name in dashes
(`final_sparsity` -> `--final-sparsity`). Values are layered: the config's
defaults, then the recipe or `--config FILE`, then the flags given.
"""
from __future__ import annotations

import argparse
import dataclasses

from pruning.config import ExperimentConfig, recipes
from pruning.config.checks import SEED_MAX
from pruning.errors import ConfigError
from pruning.studies import search_space
from pruning.studies.configs import ProxyConfig, SensitivityConfig, SweepConfig, TuneConfig


# How `--help` groups the experiment's flags, in this order (a test checks that every
# field is in exactly one group).
HELP_GROUPS = (
    ("data", ("dataset", "data_dir", "val_fraction", "augment", "shift_pixels", "seed")),
    ("model", ("model", "alpha", "input_size", "bn_momentum", "recipe")),
    ("schedule: when and how much", (
        "schedule", "initial_sparsity", "final_sparsity", "power", "frequency",
        "mask_updates", "begin_step", "end_step", "begin_fraction", "end_fraction",
        "sparsity_distribution", "sensitivity", "sparsity_m_by_n", "sparsity_block")),
    ("granularity: what is removed", (
        "granularity", "pruning_policy", "prune_output", "channel_score", "channel_multiple",
        "residual_blocks_removed", "finetune_rebuilt")),
    ("training", (
        "pretrain_epochs", "pretrain_lr", "retrain_epochs", "retrain_lr",
        "retrain_dropout_scale", "lr_schedule", "weight_decay", "batch_size",
        "distill_weight", "distill_temperature", "teacher")),
    ("export and latency", (
        "qat_epochs", "qat_lr", "clusters", "cluster_epochs", "cluster_lr", "tflite_sparse",
        "int8_granularity", "calibration_samples", "latency_runs", "latency_window")),
    ("tracking", ("mask_log_every",)),
)


def _add_config_flags(parser: argparse.ArgumentParser, cls, title: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    groups = HELP_GROUPS if cls is ExperimentConfig else ((None, tuple(fields)),)
    for name, members in groups:
        group = parser.add_argument_group(f"{title}: {name}" if name else title)
        for member in members:
            _add_flag(group, fields[member])


def _add_flag(group, f) -> None:
    default = f.metadata.get("cli_default") or ("auto" if f.default is None else f.default)
    choices = f.metadata.get("choices")
    extra = {"nargs": "?", "const": "true"} if isinstance(f.default, bool) else {}
    if f.name == "search":  # entries merge into the default space; NAME=off drops one
        extra = {"action": "append"}
    metavar = "{" + ",".join(choices) + "}" if choices else f.name.upper()
    shown = (str(default).lower() if isinstance(default, bool) else str(default)) or '""'
    group.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, metavar=metavar,
                       default=argparse.SUPPRESS,
                       help=f"{f.metadata['help']} (default: {shown})".replace("%", "%%"),
                       **extra)


def _add_tracking_flags(parser: argparse.ArgumentParser) -> None:
    start = parser.add_argument_group("where the values start")
    start.add_argument("--config", help="a config.json logged by an earlier run, or an "
                        "experiments/*.toml file; flags given override its values")
    tracking = parser.add_argument_group("tracking and registry")
    tracking.add_argument("--experiment-name", help="MLflow experiment (default: the one "
                          "MLFLOW_EXPERIMENT_NAME/_ID or `mlflow run` selects, else "
                          "<dataset>-<model>, e.g. mnist-mlp)")
    tracking.add_argument("--tracking-uri", help="MLflow tracking URI (default: "
                          "MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the current folder)")
    tracking.add_argument("--register-model", metavar="NAME", help="register the shipped "
                        "model (each seed's, a sweep's best point, a study's best trial) as a "
                        "new version of NAME in the MLflow Model Registry; the alias champion "
                        "moves to it when it beats the champion's validation accuracy")
    _add_verbose(parser)


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", nargs="?", const="true", default="false",
                        choices=("true", "false"), help="also show TensorFlow's, the TFLite "
                        "converter's and the libraries' own messages and warnings")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pruning", description="Gradual magnitude pruning experiments tracked in MLflow.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", usage="pruning run [options]", help="pre-train (or reuse) a dense model, prune it gradually, log everything",
        description="Dense pre-training (cached in the MLflow store), tfmot gradual magnitude "
        "pruning, strip, evaluate on the test set, export sizes and TFLite; one MLflow run.")
    _add_tracking_flags(run)
    run.add_argument("--no-tracking", action="store_true",
                     help="run without MLflow (no cache, nothing logged)")
    run.add_argument("--seeds", default="", help="run once per seed, e.g. 0,1,2: a child run "
                     "per seed under a parent logging <metric>_mean, _std and _min; "
                     "replaces --seed")
    _add_config_flags(run, ExperimentConfig, EXPERIMENT_FLAGS)
    _around_a_base(sub, "tune", TuneConfig, "study parameters", "the base of every trial",
                   help="Optuna search over the retraining schedule; a parent MLflow run per "
                   "study, a child run per trial",
                   description="Search retraining epochs and schedule parameters with Optuna. "
                   "The experiment flags set the base every trial starts from; the search "
                   "space overrides them. Several processes with the same --study-name and "
                   "--storage share the study.")
    _around_a_base(sub, "sweep", SweepConfig, "sweep parameters",
                   "the dense model and the gradual method's settings",
                   help="one-shot (and gradual) pruning of one dense model at many "
                   "sparsities with several methods; a child run per point",
                   description="Weight vs unit (neuron) pruning, flat (global) vs layer-wise, "
                   "and tfmot's gradual pruning, as accuracy and loss against sparsity.")
    _around_a_base(sub, "sensitivity", SensitivityConfig, "sensitivity parameters",
                   "the dense model and the granularity and pruning_policy analysed",
                   help="prune each layer (or channel group) alone at several sparsities; "
                   "curves, a heat map, and per-layer targets for "
                   "sparsity_distribution=sensitivity",
                   description="One-shot pruning of one layer at a time of the dense model "
                   "(cached), validation accuracy at each sparsity; one MLflow run with "
                   "sensitivity.json.")
    report = sub.add_parser(
        "report", help="compare finished runs of an experiment: frontier, sizes, latencies",
        description="Reads finished runs from MLflow (nothing is re-run) and writes "
        "accuracy_frontier.png and report.md, to --out or as a run of its own.")
    report.add_argument("--experiment", help="MLflow experiment to compare (default: "
                        "MLFLOW_EXPERIMENT_NAME, else the one this package wrote to last)")
    report.add_argument("--out", help="folder to write to; default: log as a report run")
    report.add_argument("--tracking-uri", help="MLflow tracking URI (default: "
                        "MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the current folder)")
    _add_verbose(report)
    runs = sub.add_parser(
        "runs", help="find runs whose process died (RUNNING, heartbeat stale) and close them",
        description="Runs of this package beat while their process lives; one killed with "
        "SIGKILL, or cut off from the server, stays RUNNING. This lists them, and with "
        "--fail-stale closes them FAILED.")
    runs.add_argument("--fail-stale", action="store_true", help="close them FAILED")
    runs.add_argument("--experiment", help="only this experiment (default: all)")
    runs.add_argument("--tracking-uri", help="MLflow tracking URI (default: "
                      "MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the current folder)")
    _add_verbose(runs)
    proxy = sub.add_parser(
        "storage-proxy", help="serve an Optuna study database to many tuning workers "
        "through Optuna's gRPC storage proxy",
        description="Optuna's gRPC storage proxy in front of one database: workers run "
        "`pruning tune --storage grpc://HOST:PORT` and hold no database connection; the "
        "proxy holds a fixed pool. Stop it with SIGTERM or Ctrl-C; restart it at will.")
    _add_config_flags(proxy, ProxyConfig, "proxy")
    _add_verbose(proxy)
    return parser


EXPERIMENT_FLAGS = "experiment"


def _around_a_base(sub, name: str, cls, own: str, base: str, **text) -> None:
    """A command with parameters of its own (`cls`) around a base experiment."""
    parser = sub.add_parser(name, usage=f"pruning {name} [options]", **text)
    _add_tracking_flags(parser)
    _add_config_flags(parser, cls, own)
    _add_config_flags(parser, ExperimentConfig, f"{EXPERIMENT_FLAGS} ({base})")

# A recipe's table of each command's own parameters.
SECTIONS = {TuneConfig: "tune", SweepConfig: "sweep", SensitivityConfig: "sensitivity"}


def config_from_args(args: argparse.Namespace, cls=ExperimentConfig):
    """Defaults, then the recipe or --config file (its [tune]/[sweep] table for those), then
    the flags given. A flag not given never overrides the file (mlflow run passes only
    the parameters the user gave: MLproject declares none)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
             if hasattr(args, f.name)}
    experiment = {f.name: getattr(args, f.name) for f in dataclasses.fields(ExperimentConfig)
                  if hasattr(args, f.name)}
    defaults = ExperimentConfig()
    values = recipes.starting_values(getattr(args, "config", None),
                                     experiment.get("recipe", recipes.AUTO),
                                     experiment.get("dataset", defaults.dataset),
                                     experiment.get("model", defaults.model))
    section = SECTIONS.get(cls)
    values = values.get(section, {}) if section else \
        {k: v for k, v in values.items() if k not in SECTIONS.values()}
    given.pop("recipe", None)  # the starting values name their origin
    if cls is TuneConfig and "search" in given:
        given["search"] = search_space.merge(values.get("search", TuneConfig().search), given["search"])
    return cls.from_dict({**values, **given})


def dashes(argv: list[str]) -> list[str]:
    """`--final_sparsity` as `--final-sparsity`: `mlflow run` passes parameters with the
    MLproject's (field) names."""
    return [a.split("=", 1)[0].replace("_", "-") + a[len(a.split("=", 1)[0]):]
            if a.startswith("--") else a for a in argv]


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0,1,2' -> (0, 1, 2); '' -> () (one run, the config's own seed)."""
    if not text.strip():
        return ()
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError("seeds", f"seeds={text!r}: give whole numbers separated by commas, "
                          "e.g. 0,1,2") from None
    if any(not 0 <= s <= SEED_MAX for s in seeds):
        raise ConfigError("seeds", f"seeds={text!r}: each seed must be in 0..{SEED_MAX}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError("seeds", f"seeds={text!r}: a seed is listed twice")
    return seeds
