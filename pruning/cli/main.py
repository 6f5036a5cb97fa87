"""`pruning`: parse, dispatch to the command, and turn what went wrong into one line and
an exit code (bad input 2, a server gone 3, interrupted 130)."""
from __future__ import annotations

import gc
import os
import signal
import sys

from pruning import console, observers
from pruning.cli import commands
from pruning.cli.options import dashes, build_parser
from pruning.console import say
from pruning.errors import Unavailable, UserError

EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3  # the tracking server or the study database stopped answering
EXIT_INTERRUPTED = 130


def main(argv=None) -> int:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    args = build_parser().parse_args(dashes(sys.argv[1:] if argv is None else argv))
    if args.verbose == "false":
        console.quiet()
    # `mlflow run` made a run for this process; tune hands it on, so keep its id here.
    mlflow_run_id = os.environ.get("MLFLOW_RUN_ID")
    signal.signal(signal.SIGTERM, observers.stop)  # `kill` ends the run KILLED, like Ctrl-C
    try:
        if getattr(args, "experiment_name", None) is not None and not args.experiment_name.strip():
            raise UserError("experiment_name: an experiment name cannot be empty; give a name "
                            "or leave the flag out (MLFLOW_EXPERIMENT_NAME, else Default)")
        return commands.COMMANDS[args.command](args)
    except UserError as e:
        say(f"pruning: error: {e}")
        if mlflow_run_id:
            from pruning import tracking

            tracking.fail_run(mlflow_run_id, str(e))
        return EXIT_BAD_INPUT
    except Unavailable as e:
        say(f"pruning: error: {e}")
        return EXIT_UNAVAILABLE
    except BaseException as e:
        if not observers.interrupted(e):
            raise
        say("pruning: interrupted; the run is marked KILLED")
        return EXIT_INTERRUPTED


def entry() -> int:
    """The process's entry point (`pruning`, `python -m pruning`): main, then a quick exit.

    Why gc.freeze: after the last line, Python's finalisation walks every object
    TensorFlow created in its garbage collections, ~2 s of a run here (docs/benchmarks.md),
    and the memory goes back to the system anyway. Frozen objects are skipped; atexit
    handlers still run. Only after a clean exit: an interrupted training may leave tf.data
    iterators whose threads still run, which the collection stops before TensorFlow's
    own teardown (a worker stopped by SIGTERM aborted once with the freeze; not
    reproduced, so the freeze is kept away from that path).
    Not in `main`, which tests and Python callers call in-process."""
    code = main()
    if code == 0:
        gc.freeze()
    return code


if __name__ == "__main__":
    raise SystemExit(entry())
