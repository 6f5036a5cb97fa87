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
import time

from .config import ExperimentConfig, SweepConfig, TuneConfig, read_file
from .errors import UserError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _add_config_flags(parser: argparse.ArgumentParser, cls, title: str) -> None:
    group = parser.add_argument_group(title)
    for f in dataclasses.fields(cls):
        default = "auto" if f.default is None else f.default
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
    _add_config_flags(run, ExperimentConfig, EXPERIMENT_FLAGS)
    tune = sub.add_parser(
        "tune", help="Optuna search over the retraining schedule; a parent MLflow run per "
        "study, a child run per trial",
        description="Search retraining epochs and schedule parameters with Optuna. The "
        "experiment flags set the base every trial starts from; the search space overrides "
        "them. Several processes with the same --study-name and --storage share the study.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_tracking_flags(tune)
    _add_config_flags(tune, TuneConfig, "study parameters")
    _add_config_flags(tune, ExperimentConfig, EXPERIMENT_FLAGS + "; the base of every trial")
    sweep = sub.add_parser(
        "sweep", help="one-shot (and gradual) pruning of one dense model at many "
        "sparsities with several methods; a child run per point",
        description="Weight vs unit (neuron) pruning, flat (global) vs layer-wise, and "
        "tfmot's gradual pruning, as accuracy and loss against sparsity.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_tracking_flags(sweep)
    _add_config_flags(sweep, SweepConfig, "sweep parameters")
    _add_config_flags(sweep, ExperimentConfig, EXPERIMENT_FLAGS + "; the dense model and "
                      "the gradual method's settings")
    report = sub.add_parser(
        "report", help="compare finished runs of an experiment: frontier, sizes, latencies",
        description="Reads finished runs from MLflow (nothing is re-run) and writes "
        "accuracy_frontier.png and report.md, to --out or as a run of its own.")
    report.add_argument("--experiment", required=True, help="MLflow experiment to compare")
    report.add_argument("--out", help="folder to write to; default: log as a report run")
    report.add_argument("--tracking-uri", help="MLflow tracking URI (default: "
                        "MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)")
    return parser


EXPERIMENT_FLAGS = "experiment parameters (MLproject names with dashes)"


def config_from_args(args: argparse.Namespace, cls=ExperimentConfig):
    """Defaults, then --config (its [tune] table for the study), then the flags given."""
    values = read_file(args.config) if args.config else {}
    section = {TuneConfig: "tune", SweepConfig: "sweep"}.get(cls)
    values = values.get(section, {}) if section else \
        {k: v for k, v in values.items() if k not in ("tune", "sweep")}
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
             if hasattr(args, f.name)}
    if cls is TuneConfig and "search" in given:
        from .search_space import merge

        given["search"] = merge(values.get("search", TuneConfig().search), given["search"])
    return cls.from_dict({**values, **given})


class Progress:
    """One line per epoch on stderr: long runs show they are alive."""

    def __init__(self, config):
        self.config, self.start = config, time.time()

    def epoch_end(self, step, metrics):
        c, first = self.config, 0
        # Steps run on across the phases; quantization-aware epochs report qat_* metrics.
        for phase, total, prefix in (("pretrain", c.pretrain_epochs, ""),
                                     ("retrain", c.retrain_epochs, ""),
                                     ("qat", c.qat_epochs, "qat_")):
            if step < first + total:
                break
            first += total
        epoch = step - first + 1
        line = (f"[{phase} {epoch}/{total}] loss {metrics[prefix + 'loss']:.4f} "
                f"acc {metrics[prefix + 'accuracy']:.4f} "
                f"val_acc {metrics[prefix + 'val_accuracy']:.4f}")
        if "sparsity" in metrics:
            line += f" sparsity {metrics['sparsity']:.3f}/{metrics['target_sparsity']:.3f}"
        print(f"{line}  ({time.time() - self.start:.0f} s)", file=sys.stderr, flush=True)

    def mask_snapshot(self, step, masks, final):
        pass


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _run(args) -> int:
    from . import experiment

    config = config_from_args(args)
    result = experiment.run(config, tracking=not args.no_tracking,
                            observers=[Progress(config)], experiment_name=args.experiment_name,
                            tracking_uri=args.tracking_uri)
    m = result.metrics
    print(f"test_accuracy {m['test_accuracy']:.4f} (dense {m['dense_test_accuracy']:.4f}, "
          f"int8 TFLite {m['tflite_int8_test_accuracy']:.4f}) at sparsity {m['sparsity']:.3f}; "
          f"{m['dense_model_bytes'] / 1024:.0f} KB dense -> "
          f"{m['tflite_int8_bytes_gzip'] / 1024:.0f} KB gzipped int8 ({m['size_reduction']:.1f}x)")
    if result.run_id:
        print(f"MLflow run {result.run_id} (dense model from run {result.pretrain_run_id}); "
              "see it with `mlflow ui`")
    return 0


def _tune(args) -> int:
    from . import tune

    base = config_from_args(args)
    study = config_from_args(args, TuneConfig)
    result = tune.run_study(base, study, experiment_name=args.experiment_name,
                            tracking_uri=args.tracking_uri,
                            print_line=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"study {result.study_name!r} ({result.storage}): {result.n_trials} trials; "
          f"parent MLflow run {result.parent_run_id}")
    if result.best_config is not None:
        print(f"best validation accuracy {result.best_values[0][0]:.4f}, test accuracy "
              f"{result.test_accuracy:.4f}; reproduce with the parent run's best_config.toml: "
              "pruning run --config best_config.toml")
    elif result.best_values:
        print(f"Pareto front of {len(result.best_values)} trials: see pareto_front.md")
    return 0


def _sweep(args) -> int:
    from . import sweep

    points = sweep.run_sweep(config_from_args(args), config_from_args(args, SweepConfig),
                             experiment_name=args.experiment_name,
                             tracking_uri=args.tracking_uri,
                             print_line=lambda line: print(line, file=sys.stderr, flush=True))
    print(sweep.table(points), end="")
    return 0


def _report(args) -> int:
    import tempfile
    from pathlib import Path

    from . import report, tracking

    tracking.check_store(None, args.tracking_uri)  # never creates the experiment
    rows = report.rows_of(tracking.finished_runs(args.experiment))
    if not rows:
        raise UserError(f"experiment {args.experiment!r} has no finished run with "
                        "test_accuracy and sparsity to compare")
    if args.out:
        for path in report.write(rows, Path(args.out)):
            print(path)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        run_id = tracking.log_report(report.write(rows, Path(tmp)), args.experiment)
    print(f"report of {len(rows)} runs logged as MLflow run {run_id}")
    return 0


COMMANDS = {"run": _run, "tune": _tune, "sweep": _sweep, "report": _report}


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter out
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` ends the run KILLED, like Ctrl-C
    try:
        return COMMANDS[args.command](args)
    except UserError as e:
        print(f"pruning: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("pruning: interrupted; the run is marked KILLED", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
