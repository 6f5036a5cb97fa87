"""Handlers of the commands that analyse a dense model or read what is logged:
`sensitivity`, `report`, `runs`. The parser and the training commands are pruning.cli."""
from __future__ import annotations

from .errors import ConfigError, UserError
from .progress import say


def sensitivity_command(args) -> int:
    from .cli import _announce, config_from_args
    from .search_configs import SensitivityConfig

    if args.register_model:
        raise UserError("register_model: a sensitivity analysis ships no model; register one "
                        "with `pruning run` by its curves")
    base = config_from_args(args)
    if base.reads_curves():
        base = base.replace(sparsity_distribution="uniform")  # the curves measure layers alone
    analysis_config = config_from_args(args, SensitivityConfig)
    sparsities = analysis_config.sparsity_list()
    if analysis_config.latency and base.granularity == "weight":
        raise ConfigError("latency", "latency: timing needs granularity unit or channel "
                          "(zeros in dense kernels save no time)")
    from . import preflight

    preflight.check(base, window=False)
    _announce(base, f"sensitivity ({base.granularity}s at {sparsities}) of")
    from . import sensitivity as analysis, tracking

    run_id, _, _ = analysis.run_sensitivity(base, sparsities, args.experiment_name,
                                            args.tracking_uri, print_line=say,
                                            timed=analysis_config.latency)
    use = analysis.how_to_use(run_id, analysis_config.latency, base.residual_blocks_removed)
    print(f"curves: runs:/{run_id}/sensitivity.json; to prune by them, add to this model's "
          f"`pruning run`: {use}")
    print(tracking.where_to_look(run_id))
    return 0


def report_command(args) -> int:
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
    print(f"report of {len(rows)} runs")
    print(tracking.where_to_look(run_id))
    return 0


def runs_command(args) -> int:
    from . import tracking

    tracking.check_store(None, args.tracking_uri)
    ids = [tracking.experiment_id(args.experiment)] if args.experiment else None
    stale = tracking.fail_stale(ids) if args.fail_stale else tracking.stale_runs(ids)
    for run in stale:
        print(f"{run.info.run_id}  {run.info.run_name}  "
              f"{'closed FAILED' if args.fail_stale else 'RUNNING, heartbeat stale'}")
    print(f"{len(stale)} stale run{'s' * (len(stale) != 1)}"
          + ("" if args.fail_stale or not stale else "; close them with --fail-stale"))
    return 0
