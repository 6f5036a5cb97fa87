"""`pruning` command line: the only place that parses arguments.

Every config field is a flag with the MLproject parameter's name in dashes
(`final_sparsity` -> `--final-sparsity`). Values are layered: the config's
defaults, then `--config FILE`, then the flags given.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys

from . import console, preflight, recipes
from . import cli_commands
from . import seeds as seeds_module
from .config import ExperimentConfig
from .search_configs import SensitivityConfig, SweepConfig, TuneConfig
from .errors import Unavailable, UserError
from .progress import Progress, say

EXIT_NOTHING_TO_SHOW = 1  # a study with no completed trial
EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3  # the tracking server or the study database stopped answering
EXIT_INTERRUPTED = 130


def _add_config_flags(parser: argparse.ArgumentParser, cls, title: str) -> None:
    group = parser.add_argument_group(title)
    for f in dataclasses.fields(cls):
        default = f.metadata.get("cli_default") or ("auto" if f.default is None else f.default)
        choices = f.metadata.get("choices")
        extra = {"nargs": "?", "const": "true"} if isinstance(f.default, bool) else {}
        if f.name == "search":  # entries merge into the default space; NAME=off drops one
            extra = {"action": "append"}
        metavar = "{" + ",".join(choices) + "}" if choices else f.name.upper()
        group.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, metavar=metavar,
                           default=argparse.SUPPRESS,
                           help=f"{f.metadata['help']} (default: {default})".replace("%", "%%"),
                           **extra)


def _add_tracking_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="a config.json logged by an earlier run, or an "
                        "experiments/*.toml file; flags given override its values")
    parser.add_argument("--experiment-name", help="MLflow experiment (default: the one "
                        "MLFLOW_EXPERIMENT_NAME/_ID or `mlflow run` selects, else Default)")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: "
                        "MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)")
    parser.add_argument("--register-model", metavar="NAME", help="register the shipped "
                        "model (a sweep's best point, a study's best trial) as a new version "
                        "of NAME in the MLflow Model Registry")
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
        "run", help="pre-train (or reuse) a dense model, prune it gradually, log everything",
        description="Dense pre-training (cached in the MLflow store), tfmot gradual magnitude "
        "pruning, strip, evaluate on the test set, export sizes and TFLite; one MLflow run.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
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
    report.add_argument("--experiment", required=True, help="MLflow experiment to compare")
    report.add_argument("--out", help="folder to write to; default: log as a report run")
    report.add_argument("--tracking-uri", help="MLflow tracking URI (default: "
                        "MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)")
    _add_verbose(report)
    runs = sub.add_parser(
        "runs", help="find runs whose process died (RUNNING, heartbeat stale) and close them",
        description="Runs of this package beat while their process lives; one killed with "
        "SIGKILL, or cut off from the server, stays RUNNING. This lists them, and with "
        "--fail-stale closes them FAILED.")
    runs.add_argument("--fail-stale", action="store_true", help="close them FAILED")
    runs.add_argument("--experiment", help="only this experiment (default: all)")
    runs.add_argument("--tracking-uri", help="MLflow tracking URI (default: "
                      "MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)")
    _add_verbose(runs)
    return parser


EXPERIMENT_FLAGS = "experiment parameters (MLproject names with dashes)"


def _around_a_base(sub, name: str, cls, own: str, base: str, **text) -> None:
    """A command with parameters of its own (`cls`) around a base experiment."""
    parser = sub.add_parser(name, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                            **text)
    _add_tracking_flags(parser)
    _add_config_flags(parser, cls, own)
    _add_config_flags(parser, ExperimentConfig, f"{EXPERIMENT_FLAGS}; {base}")

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
        from .search_space import merge

        given["search"] = merge(values.get("search", TuneConfig().search), given["search"])
    return cls.from_dict({**values, **given})


def _announce(config, what: str) -> None:
    """The first line, before TensorFlow loads: what is about to run, from which recipe."""
    initial, final = config.sparsity_targets()
    say(f"pruning {what}: {config.model} on {config.dataset}, {initial:.0%} -> {final:.0%} "
        f"of {config.share_of()} ({config.dense_epochs} dense + {config.retrain_epochs} pruning epochs), "
        f"recipe {config.recipe}; loading TensorFlow")


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _run(args) -> int:
    config = config_from_args(args)
    seeds = seeds_module.parse(args.seeds)
    if seeds and args.register_model:
        raise UserError("register_model: a run over seeds ships one model per seed; register "
                        "one of them with a run of that seed (--seed N, without --seeds)")
    checked = preflight.check(config)
    _announce(config, "run" + (f" over seeds {args.seeds}" if seeds else ""))
    from . import describe, experiment

    tracking_args = dict(experiment_name=args.experiment_name, tracking_uri=args.tracking_uri)
    if seeds:
        _, stats, run_id = seeds_module.run_seeds(config, seeds, not args.no_tracking, Progress,
                                                  checked=checked, **tracking_args)
        print(seeds_module.line(seeds, stats))
    else:
        result = experiment.run(config, checked=checked, tracking=not args.no_tracking,
                                observers=[Progress(config)], register_model=args.register_model,
                                **tracking_args)
        print(describe.result_line(result.config, result.metrics))
        run_id = result.run_id
    if run_id:
        from . import tracking

        print(tracking.where_to_look(run_id))
    return 0


def _tune(args) -> int:
    base = config_from_args(args)
    study = config_from_args(args, TuneConfig)
    preflight.check(base, window=False)
    _announce(base, f"tune ({study.n_trials} trials around)")
    from . import tracking, tune

    try:
        result = tune.run_study(base, study, experiment_name=args.experiment_name,
                                tracking_uri=args.tracking_uri, print_line=say,
                                register_model=args.register_model)
    except tune.NoTrialCompleted as e:
        say(f"pruning: {e}")
        return EXIT_NOTHING_TO_SHOW
    print(f"study {result.study_name!r} ({result.storage}): {result.n_trials} trials")
    if result.best_config is not None:
        print(f"best validation accuracy {result.best_values[0][0]:.4f}, test accuracy "
              f"{result.test_accuracy:.4f}; reproduce it with: pruning run --config "
              f"runs:/{result.parent_run_id}/best_config.toml")
    elif result.best_values:
        print(f"Pareto front of {len(result.best_values)} trials: pareto_front.md on the "
              "study's run")
    print(tracking.where_to_look(result.parent_run_id))
    return 0


def _sweep(args) -> int:
    base, sweep_config = config_from_args(args), config_from_args(args, SweepConfig)
    preflight.check(base, window="gradual" in sweep_config.method_list())
    _announce(base, f"sweep ({sweep_config.methods} at {sweep_config.sparsities}) of")
    from . import sweep, tracking

    points, parent = sweep.run_sweep(base, sweep_config, experiment_name=args.experiment_name,
                                     tracking_uri=args.tracking_uri, print_line=say,
                                     register_model=args.register_model)
    print(sweep.table(points), end="")
    print(tracking.where_to_look(parent))
    return 0


COMMANDS = {"run": _run, "tune": _tune, "sweep": _sweep,
            "sensitivity": cli_commands.sensitivity_command,
            "report": cli_commands.report_command, "runs": cli_commands.runs_command}


def _dashes(argv: list[str]) -> list[str]:
    """`--final_sparsity` as `--final-sparsity`: `mlflow run` passes parameters with the
    MLproject's (field) names."""
    return [a.split("=", 1)[0].replace("_", "-") + a[len(a.split("=", 1)[0]):]
            if a.startswith("--") else a for a in argv]


def main(argv=None) -> int:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    args = build_parser().parse_args(_dashes(sys.argv[1:] if argv is None else argv))
    if args.verbose == "false":
        console.quiet()
    # `mlflow run` made a run for this process; tune hands it on, so keep its id here.
    mlflow_run_id = os.environ.get("MLFLOW_RUN_ID")
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` ends the run KILLED, like Ctrl-C
    try:
        if getattr(args, "experiment_name", None) is not None and not args.experiment_name.strip():
            raise UserError("experiment_name: an experiment name cannot be empty; give a name "
                            "or leave the flag out (MLFLOW_EXPERIMENT_NAME, else Default)")
        return COMMANDS[args.command](args)
    except UserError as e:
        say(f"pruning: error: {e}")
        if mlflow_run_id:
            from . import tracking

            tracking.fail_run(mlflow_run_id, str(e))
        return EXIT_BAD_INPUT
    except Unavailable as e:
        say(f"pruning: error: {e}")
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        say("pruning: interrupted; the run is marked KILLED")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
