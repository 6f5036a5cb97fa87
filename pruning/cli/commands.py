"""What each `pruning` command does with its parsed arguments: check everything that
needs no TensorFlow, say what is about to run, then load the rest and run it. Heavy
modules are imported by the command that needs them, after its input is checked: bad
input is refused before TensorFlow, MLflow or Optuna load."""
from __future__ import annotations

from pruning.cli.options import config_from_args, parse_seeds
from pruning.config import preflight
from pruning.config.checks import timed_granularities
from pruning.console import percent, say
from pruning.errors import ConfigError, UserError
from pruning.experiment.progress import Progress
from pruning.studies import search_space
from pruning.studies.methods import METHODS
from pruning.studies.configs import ProxyConfig, SensitivityConfig, SweepConfig, TuneConfig

EXIT_NOTHING_TO_SHOW = 1  # a study with no completed trial


def _announce(config, what: str) -> None:
    """The first line, before TensorFlow loads: what is about to run, from which recipe."""
    initial, final = config.sparsity_targets()
    say(f"pruning {what}: {config.model} on {config.dataset}, {percent(initial)} -> "
        f"{percent(final)} of {config.share_of()} ({config.dense_epochs} dense + {config.retrain_epochs} pruning epochs), "
        f"recipe {config.recipe}; loading TensorFlow")



def run(args) -> int:
    config = config_from_args(args)
    seeds = parse_seeds(args.seeds)
    if args.no_tracking and args.register_model:
        raise UserError("register_model: --no-tracking logs nothing, so there is no model to "
                        "register; drop one of the two")
    checked = preflight.check(config)
    _announce(config, "run" + (f" over seeds {args.seeds}" if seeds else ""))
    from pruning import tracking
    from pruning.experiment import describe

    opening = None if args.no_tracking else tracking.open_meanwhile(
        args.experiment_name, args.tracking_uri, describe.experiment_name(config))
    from pruning.experiment import pipeline
    from pruning.studies import seeds as seeds_module

    if opening:
        opening.join()

    tracking_args = dict(experiment_name=args.experiment_name, tracking_uri=args.tracking_uri)
    if seeds:
        _, stats, run_id = seeds_module.run_seeds(config, seeds, not args.no_tracking, Progress,
                                                  checked=checked,
                                                  register_model=args.register_model,
                                                  **tracking_args)
        print(seeds_module.line(seeds, stats))
    else:
        result = pipeline.run(config, checked=checked, tracking=not args.no_tracking,
                                observers=[Progress(config)], register_model=args.register_model,
                                **tracking_args)
        print(describe.result_line(result.config, result.metrics))
        if result.registration:
            print(result.registration)
        run_id = result.run_id
    if run_id:
        print(tracking.where_to_look(run_id))
    return 0


def tune(args) -> int:
    base = config_from_args(args)
    study = config_from_args(args, TuneConfig)
    if args.register_model and study.objective == "pareto":
        raise UserError("register_model: a Pareto study has no single best model; register "
                        "a point of its front with `pruning run --config runs:/<study run>/"
                        "pareto/trial_N.toml --register-model NAME`")
    # The space's own values, and the starting config (trial 0) with its window on this
    # data: refused before TensorFlow loads.
    search_space.check(base, search_space.parse(study.search, base))
    preflight.check(base)
    _announce(base, f"tune ({study.n_trials} trials around)")
    from pruning import tracking
    from pruning.studies import tune as tuning

    try:
        result = tuning.run_study(base, study, experiment_name=args.experiment_name,
                                tracking_uri=args.tracking_uri, print_line=say,
                                register_model=args.register_model)
    except tuning.NoTrialCompleted as e:
        say(f"pruning: {e}")
        return EXIT_NOTHING_TO_SHOW
    print(f"study {result.study_name!r} ({result.storage}): {result.n_trials} trials")
    if result.best_config is not None:
        print(f"best validation accuracy {result.best_values[0][0]:.4f}, test accuracy "
              f"{result.test_accuracy:.4f}; reproduce it with: pruning run --config "
              f"runs:/{result.parent_run_id}/best_config.toml")
        if result.registered:
            print(result.registered)
    elif result.best_values:
        print(f"Pareto front of {len(result.best_values)} trials: pareto_front.md on the "
              "study's run")
    print(tracking.where_to_look(result.parent_run_id))
    return 0


def sweep(args) -> int:
    base, sweep_config = config_from_args(args), config_from_args(args, SweepConfig)
    at_once = [m for m in sweep_config.method_list() if not METHODS.get(m).gradual]
    if base.sparsity_block and at_once:
        raise ConfigError("sparsity_block", f"sparsity_block={base.sparsity_block!r}: tfmot "
                          f"prunes blocks while retraining only; methods {','.join(at_once)} "
                          "prune single weights at once: sweep with methods=gradual")
    preflight.check(base, window="gradual" in sweep_config.method_list())
    _announce(base, f"sweep ({sweep_config.methods} at {sweep_config.sparsities}) of")
    from pruning import tracking
    from pruning.studies import sweep as sweeping

    points, parent = sweeping.run_sweep(base, sweep_config, experiment_name=args.experiment_name,
                                     tracking_uri=args.tracking_uri, print_line=say,
                                     register_model=args.register_model)
    print(sweeping.table(points), end="")
    print(tracking.where_to_look(parent))
    return 0



def sensitivity(args) -> int:
    if args.register_model:
        raise UserError("register_model: a sensitivity analysis ships no model; register one "
                        "with `pruning run` by its curves")
    base = config_from_args(args)
    if base.sparsity_block:
        raise ConfigError("sparsity_block", f"sparsity_block={base.sparsity_block!r}: a "
                          "sensitivity analysis prunes single weights at once; leave it empty")
    if base.reads_curves():
        base = base.replace(sparsity_distribution="uniform")  # the curves measure layers alone
    analysis_config = config_from_args(args, SensitivityConfig)
    sparsities = analysis_config.sparsity_list()
    if analysis_config.latency and not base.pruned_by().saves_latency:
        raise ConfigError("latency", f"latency: timing needs granularity "
                          f"{timed_granularities()} (zeros in dense kernels save no time)")
    preflight.check(base, window=False)
    _announce(base, f"sensitivity ({base.granularity}s at {sparsities}) of")
    from pruning.studies import sensitivity as analysis
    from pruning import tracking

    run_id, _, _ = analysis.run_sensitivity(base, sparsities, args.experiment_name,
                                            args.tracking_uri, print_line=say,
                                            timed=analysis_config.latency)
    use = analysis.how_to_use(run_id, analysis_config.latency, base.residual_blocks_removed)
    print(f"curves: runs:/{run_id}/sensitivity.json; to prune by them, add to this model's "
          f"`pruning run`: {use}")
    print(tracking.where_to_look(run_id))
    return 0


def report(args) -> int:
    import tempfile
    from pathlib import Path

    from pruning import tracking
    from pruning.studies import report as reporting

    tracking.check_store(None, args.tracking_uri)  # never creates the experiment
    experiment = args.experiment or tracking.latest_experiment()
    if experiment is None:
        raise UserError("experiment: this store holds no experiment this package wrote to; "
                        "name one with --experiment")
    rows = reporting.rows_of(tracking.finished_runs(experiment))
    if not rows:
        raise UserError(f"experiment {experiment!r} has no finished run with "
                        "test_accuracy and sparsity to compare")
    print(f"report of {len(rows)} runs of experiment {experiment!r}")
    print(reporting.markdown(rows), end="")
    if args.out:
        for path in reporting.write(rows, Path(args.out)):
            print(path)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        run_id = tracking.log_report(reporting.write(rows, Path(tmp)), experiment)
    print(tracking.where_to_look(run_id))
    return 0


def runs(args) -> int:
    from pruning import tracking

    tracking.check_store(None, args.tracking_uri)
    ids = [tracking.experiment_id(args.experiment)] if args.experiment else None
    stale = tracking.fail_stale(ids) if args.fail_stale else tracking.stale_runs(ids)
    for run in stale:
        print(f"{run.info.run_id}  {run.info.run_name}  "
              f"{'closed FAILED' if args.fail_stale else 'RUNNING, heartbeat stale'}")
    print(f"{len(stale)} stale run{'s' * (len(stale) != 1)}"
          + ("" if args.fail_stale or not stale else "; close them with --fail-stale"))
    return 0


def storage_proxy(args) -> int:
    proxy = ProxyConfig.from_dict({k: v for k, v in vars(args).items()
                                   if k in ProxyConfig.__dataclass_fields__})
    from pruning.studies import proxy as proxying

    proxying.serve(proxy.storage, proxy.host, proxy.port, proxy.threads, proxy.pool_size, say)
    return 0


COMMANDS = {"run": run, "tune": tune, "sweep": sweep, "sensitivity": sensitivity,
            "report": report, "runs": runs, "storage-proxy": storage_proxy}
