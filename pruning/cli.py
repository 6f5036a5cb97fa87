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

from .config import ExperimentConfig, read_file
from .errors import UserError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _add_config_flags(parser: argparse.ArgumentParser, cls) -> None:
    group = parser.add_argument_group("experiment parameters (MLproject names with dashes)")
    for f in dataclasses.fields(cls):
        default = "auto" if f.default is None else f.default
        choices = f.metadata.get("choices")
        extra = {"nargs": "?", "const": "true"} if isinstance(f.default, bool) else {}
        group.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=argparse.SUPPRESS,
                           metavar=(f.name.upper() if not choices else "{" + ",".join(choices) + "}"),
                           help=f"{f.metadata['help']} (default: {default})", **extra)


def _add_tracking_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="a config.json logged by an earlier run, or an "
                        "experiments/*.toml file; flags given override its values")
    parser.add_argument("--experiment-name", help="MLflow experiment (default: the one "
                        "MLFLOW_EXPERIMENT_NAME/_ID or `mlflow run` selects, else Default)")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: "
                        "MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here)")
    parser.add_argument("--no-tracking", action="store_true",
                        help="run without MLflow (no cache, nothing logged)")


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
    _add_config_flags(run, ExperimentConfig)
    return parser


def config_from_args(args: argparse.Namespace, cls=ExperimentConfig):
    values = read_file(args.config) if args.config else {}
    values.update({f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
                   if hasattr(args, f.name)})
    return cls.from_dict(values)


class Progress:
    """One line per epoch on stderr: long runs show they are alive."""

    def __init__(self, config):
        self.config, self.start = config, time.time()

    def epoch_end(self, step, metrics):
        pre = self.config.pretrain_epochs
        phase, epoch, total = (("pretrain", step + 1, pre) if step < pre
                               else ("retrain", step - pre + 1, self.config.retrain_epochs))
        line = (f"[{phase} {epoch}/{total}] loss {metrics['loss']:.4f} "
                f"acc {metrics['accuracy']:.4f} val_acc {metrics['val_accuracy']:.4f}")
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


COMMANDS = {"run": _run}


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter out
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
