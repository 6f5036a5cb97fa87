"""Optuna over the pruning schedule: a study around a starting config.

One MLflow parent run per study, one nested child run per trial (pruning.studies.trials;
not Optuna's deprecated MLflowCallback). The dense model is pre-trained once per study
and every trial starts from it. The study's first trial is the starting config itself,
so its best is never worse than where the user started. "Trial pruner" always means
Optuna stopping an unpromising *trial*; weight pruning is the experiment.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections import Counter

import optuna

from pruning.config import ExperimentConfig
from pruning.errors import UserError
from pruning.experiment import describe, pipeline
from pruning.observers import stop_if_asked
from pruning.registry import Registry
from pruning.sparsity import schedules
from pruning.studies import opening, search_space, storages, trials, workers
from pruning.studies import summary as study_summary
from pruning.studies.configs import TuneConfig
from pruning.training import TrainingDiverged

SAMPLERS = Registry("sampler")
# constant_liar: a trial still running elsewhere counts as a poor result, so concurrent
# workers do not all sample next to the same promising point.
SAMPLERS.register("tpe")(lambda seed: optuna.samplers.TPESampler(seed=seed,
                                                                  constant_liar=True))
SAMPLERS.register("random")(lambda seed: optuna.samplers.RandomSampler(seed=seed))

TRIAL_PRUNERS = Registry("trial_pruner")  # stop unpromising trials early (not weights)
TRIAL_PRUNERS.register("median")(
    lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
TRIAL_PRUNERS.register("hyperband")(
    lambda: optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=3))
TRIAL_PRUNERS.register("none")(lambda: optuna.pruners.NopPruner())

TrialState = optuna.trial.TrialState
SECOND_OBJECTIVE = study_summary.SECOND_OBJECTIVE
StudyResult = study_summary.StudyResult


def resolve(base: ExperimentConfig, tune: TuneConfig, n_train: int
            ) -> tuple[TuneConfig, dict, dict]:
    """The study name, the search space (`auto` expanded around the base on data of
    `n_train` samples) and the base's own value of each dimension: the starting trial."""
    name = tune.study_name or (f"{describe.short_name(base.model)}-"
                               f"{describe.short_name(base.dataset)}-{tune.objective}")
    window = base.window(schedules.steps_per_epoch(n_train, base.batch_size))
    updates = (window.end_step - window.begin_step) // window.frequency
    dims = search_space.parse(tune.search, base, updates)
    search_space.check(base, dims)
    if tune.objective == "pareto" and tune.pareto_metric in ("sparsity", "latency") \
            and "final_sparsity" not in dims:
        # Accuracy against sparsity (or the speed it buys) only makes a front if it varies.
        dims.update(search_space.parse(f"final_sparsity={search_space.PARETO_SPARSITY}"))
    resolved = tune.__class__(**{**tune.to_dict(), "study_name": name,
                                 "search": search_space.format_space(dims)})
    return resolved, dims, search_space.starting_values(base, dims, updates)


def _on_lost(tune: TuneConfig, mlt):
    """Optuna's callback for a trial whose worker stopped beating: close the MLflow run
    the dead worker could not close, then re-queue the trial."""
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=tune.max_retry)

    def lost(study, trial):
        if "mlflow_run_id" in trial.user_attrs:
            mlt.mark_lost(trial.user_attrs["mlflow_run_id"],
                          f"worker lost: no heartbeat for {tune.grace_period} s")
        retry(study, trial)
    return lost


def _progress(start: float, print_line):
    def callback(study, trial):
        values = " ".join(f"{v:.4f}" for v in trial.values or [])
        print_line(f"trial {trial.number} {trial.state.name.lower()}"
                   + (f" {values}" if values else "") + ": "
                   + trials.trial_name(trial.number, trial.params,
                                       bool(trial.user_attrs.get(trials.STARTING_POINT)))
                   + f"  ({time.time() - start:.0f} s)"
                   + (f"\n  {trial.user_attrs['error']}" if trial.state == TrialState.FAIL
                      and "error" in trial.user_attrs else ""))
        # A stop that landed where Python drops it (a gc callback, a __del__) after the
        # trial's last epoch: the trial is told, and the worker stops before the next.
        stop_if_asked()
    return callback


def run_study(base: ExperimentConfig, tune: TuneConfig, experiment_name: str | None = None,
              tracking_uri: str | None = None, print_line=print,
              register_model: str | None = None) -> StudyResult:
    """Run this worker's trials; with `register_model`, the study's best model is
    registered and the `champion` alias moved to it. Raises NoTrialCompleted when the
    study has no completed trial after this worker's part."""
    resolved = {}

    def check(splits):  # the space around the base, on this data: refused before any run
        resolved["tune"], resolved["dims"], resolved["start"] = resolve(
            base, tune, len(splits.x_train))
        search_space.check_windows(base, resolved["dims"], len(splits.x_train))

    splits, start, mlt = opening.open_store(base, experiment_name, tracking_uri, check)
    tune, dims = resolved["tune"], resolved["dims"]
    url = tune.storage or mlt.default_optuna_storage()
    storage = storages.open_storage(url, tune, _on_lost(tune, mlt), mlt.retry, print_line)
    pareto = tune.objective == "pareto"
    directions = ["maximize", SECOND_OBJECTIVE[tune.pareto_metric][1]] if pareto \
        else ["maximize"]
    sampler = workers.TrialSeeded(SAMPLERS.get(tune.sampler), base.seed)
    pruner = TRIAL_PRUNERS.get(tune.trial_pruner)()
    left_out = search_space.outside(resolved["start"], dims)
    with optuna_quiet():
        try:
            study = optuna.create_study(study_name=tune.study_name, storage=storage,
                                        directions=directions, sampler=sampler, pruner=pruner)
            # The starting config runs first, enqueued by the one worker that created the
            # study (the database's unique study name decides which): workers starting
            # together would each find no trial yet and enqueue it twice.
            if not left_out:
                study.enqueue_trial(resolved["start"],
                                    user_attrs={trials.STARTING_POINT: True})
        except optuna.exceptions.DuplicatedStudyError:  # another worker's, or resumed
            study = optuna.load_study(study_name=tune.study_name, storage=storage,
                                      sampler=sampler, pruner=pruner)
    print_line(f"search: {tune.search}; " + (
        f"the starting config lies outside it ({', '.join(left_out)}): no starting trial"
        if left_out else "the first trial is the starting config "
        f"({trials.trial_name(0, resolved['start'], True).split(' ', 2)[-1]})"))
    key = hashlib.sha256(f"{url}|{tune.study_name}".encode()).hexdigest()[:16]
    params = {**tune.to_dict(), "storage": url, **opening.base_params(base)}
    # Trials must start runs of their own, not resume the one `mlflow run` made.
    own_run = os.environ.pop("MLFLOW_RUN_ID", None)
    parent = mlt.study_run(key, f"study-{tune.study_name}", params,
                           {"study_name": tune.study_name, "dataset": base.dataset,
                            "model": base.model, "objective": tune.objective, **start.tags()},
                           own_run)
    with mlt.study_worker(parent):
        dense, _ = pipeline.ensure_pretrained(base, splits, start, parent,
                                              progress=print_line is not None)
        objective = trials.make_objective(study, base, tune, dims, parent, mlt)
        progress = _progress(time.time(), print_line)

        def optimize(n_trials, timeout=None):
            workers.optimize(study, objective, n_trials, timeout, (UserError, TrainingDiverged),
                             [progress], print_line, tune.grace_period)

        with optuna_quiet(), _requeue_on_interrupt(study, tune, print_line):
            optimize(tune.n_trials, tune.timeout or None)
            workers.sweep_up(study, optimize, _orphaned(tune, mlt),
                             tune.grace_period + 2 * tune.heartbeat_interval, print_line)
        result = study_summary.summarize(study, base, tune, parent, url, mlt, splits, dense,
                                         register_model)
        if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            raise NoTrialCompleted(_why_none_completed(study))
        return result


class NoTrialCompleted(Exception):
    """A study with nothing to show: the CLI says why and exits non-zero."""


def _why_none_completed(study) -> str:
    states = Counter(t.state.name.lower() for t in study.trials)
    errors = Counter(t.user_attrs["error"] for t in study.trials
                     if t.state == TrialState.FAIL and "error" in t.user_attrs)
    said = "; ".join(f"{n} x {e}" for e, n in errors.most_common(3))
    return (f"no trial of study completed ({', '.join(f'{n} {s}' for s, n in states.items())})"
            + (f": {said}" if said else ""))


@contextlib.contextmanager
def _requeue_on_interrupt(study, tune: TuneConfig, print_line):
    """A trial cut short by this worker's stop (SIGTERM, Ctrl-C, the tracking server
    gone) was not the trial's fault: queue it again for the other workers."""
    running_before = {t.number for t in study.get_trials(deepcopy=False)}
    try:
        yield
    except BaseException:
        mine = [t for t in study.get_trials(deepcopy=False)
                if t.number not in running_before and t.state == TrialState.FAIL
                and "interrupted" in t.user_attrs]
        for t in mine:
            with contextlib.suppress(Exception):  # the database may be what failed
                if workers.requeue(study, t.number, tune.max_retry):
                    print_line(f"trial {t.number} interrupted: queued again for the study")
        raise


def _orphaned(tune: TuneConfig, mlt):
    """A RUNNING trial whose worker stopped answering: its MLflow run's heartbeat is stale,
    or it never got a run and started longer ago than the grace period."""
    def orphaned(trial) -> bool:
        run_id = trial.user_attrs.get("mlflow_run_id")
        if run_id:
            return mlt.run_is_stale(run_id)
        return time.time() - trial.datetime_start.timestamp() > tune.grace_period
    return orphaned


class optuna_quiet:
    """Optuna logs every trial at INFO; the progress callback says it in one line."""

    def __enter__(self):
        self.level = optuna.logging.get_verbosity()
        # ERROR: a failed trial's warning is said by the progress line, with its reason.
        optuna.logging.set_verbosity(optuna.logging.ERROR)

    def __exit__(self, *exc):
        optuna.logging.set_verbosity(self.level)
