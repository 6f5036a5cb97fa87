"""Optuna over the pruning schedule: suggest -> config -> experiment -> number.

One MLflow parent run per study, one nested child run per trial (logged here,
not by Optuna's deprecated MLflowCallback). The dense model is pre-trained
once per study and every trial starts from it. "Trial pruner" always means
Optuna stopping an unpromising *trial*; weight pruning is the experiment.
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import os
import time
from collections import Counter

import numpy as np
import optuna

from pruning.config import ExperimentConfig
from pruning.errors import UserError
from pruning.experiment import describe, pipeline
from pruning.observers import Observer
from pruning.studies import opening, search_space, storages, workers
from pruning.studies import summary as study_summary
from pruning.studies.configs import TuneConfig
from pruning.training import TrainingDiverged
from pruning.registry import Registry

# A trial's Outputs: no test set, no TFLite; the model only while it is the best so far.
TRIAL_OUTPUTS = dict(test_set=False, export=False)

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


def resolve(base: ExperimentConfig, tune: TuneConfig) -> tuple[TuneConfig, dict]:
    """Fill the study name and the search space the objective implies."""
    name = tune.study_name or (f"{describe.short_name(base.model)}-"
                               f"{describe.short_name(base.dataset)}-{tune.objective}")
    dims = search_space.parse(tune.search)
    search_space.check(base, dims)
    if tune.objective == "pareto" and tune.pareto_metric in ("sparsity", "latency") \
            and "final_sparsity" not in dims:
        # Accuracy against sparsity (or the speed it buys) only makes a front if it varies.
        dims.update(search_space.parse(f"final_sparsity={search_space.PARETO_SPARSITY}"))
    return tune.__class__(**{**tune.to_dict(), "study_name": name,
                             "search": search_space.format_space(dims)}), dims


def trial_config(base: ExperimentConfig, values: dict) -> ExperimentConfig:
    return ExperimentConfig.from_dict({**base.to_dict(), **values})


class TrialReporter(Observer):
    """Reports validation accuracy each retraining epoch; raises TrialPruned when told."""

    def __init__(self, trial: optuna.Trial, pretrain_epochs: int, stop_early: bool):
        self.trial, self.pretrain_epochs, self.stop_early = trial, pretrain_epochs, stop_early
        self.epochs = 0
        self.run_id = None

    def run_started(self, run_id):
        self.run_id = run_id
        self.trial.set_user_attr("mlflow_run_id", run_id)

    def epoch_end(self, step, metrics):
        if step < self.pretrain_epochs:
            return
        self.epochs += 1
        self.trial.set_user_attr("retrain_epochs_run", self.epochs)
        if self.stop_early:
            self.trial.report(metrics["val_accuracy"], self.epochs - 1)
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"stopped after {self.epochs} retraining epochs")


def _is_best_so_far(study: optuna.Study, value: float) -> bool:
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return not done or value > max(t.value for t in done)


def _on_front(study: optuna.Study, values: list[float], directions) -> bool:
    """Not dominated by any completed trial."""
    sign = [1 if d == "maximize" else -1 for d in directions]
    mine = [s * v for s, v in zip(sign, values)]
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        theirs = [s * v for s, v in zip(sign, t.values)]
        if all(a >= b for a, b in zip(theirs, mine)) and theirs != mine:
            return False
    return True


def make_objective(study, base, tune, dims, parent_run_id, mlt):
    pareto = tune.objective == "pareto"
    metric2, direction2 = SECOND_OBJECTIVE[tune.pareto_metric]
    directions = ["maximize", direction2]

    def values_of(metrics):
        accuracy = metrics["final_val_accuracy"]
        return [accuracy, metrics[metric2]] if pareto else accuracy

    def keep_model(metrics):
        values = values_of(metrics)
        return _on_front(study, values, directions) if pareto else _is_best_so_far(study, values)

    def objective(trial: optuna.Trial):
        values = search_space.suggest(trial, dims)
        config = trial_config(base, values)
        reporter = TrialReporter(trial, base.dense_epochs, tune.trial_pruner != "none")
        outputs = pipeline.Outputs(keep_model=keep_model, latency=metric2 == "int8_latency_us"
                                     and pareto, **TRIAL_OUTPUTS)
        state = "failed"
        try:
            result = pipeline.run(config, observers=[reporter], outputs=outputs,
                                    parent_run_id=parent_run_id,
                                    tags={"trial_number": trial.number,
                                          "study_name": tune.study_name},
                                    finished_on=(optuna.TrialPruned,),
                                    name=trial_name(tune.study_name, trial.number, values))
            objective_values = values_of(result.metrics)
            if any(not math.isfinite(v) for v in np.atleast_1d(objective_values)):
                raise TrainingDiverged(f"trial {trial.number}: objective is "
                                             f"{objective_values}")
            state = "complete"
        except optuna.TrialPruned:
            state = "pruned"
            raise
        except BaseException as e:  # recorded for the progress line; Optuna records it FAIL
            trial.set_user_attr("error", f"{type(e).__name__}: {e}"[:500])
            if not isinstance(e, Exception) or isinstance(e, mlt.ServerUnreachable):
                trial.set_user_attr("interrupted", True)  # not the trial's fault: re-queued
            if isinstance(e, mlt.ServerUnreachable):
                state = None  # no server to tell
            raise
        finally:
            if reporter.run_id and state:
                mlt.set_tags(reporter.run_id, {"trial_state": state})
        trial.set_user_attr("config", result.config.to_json())
        for key in ("sparsity", "model_bytes_gzip"):  # what the study's plots show
            trial.set_user_attr(key, result.metrics[key])
        if result.model_id:
            trial.set_user_attr("mlflow_model_id", result.model_id)
        return objective_values

    return objective


def trial_name(study_name: str, number: int, values: dict) -> str:
    """`study #3: retrain_epochs=7 power=2.1`: the study, the trial, the values searched."""
    shown = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in values.items())
    return f"{study_name} #{number}: {shown}"


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
                   + trial_name("", trial.number, trial.params).split(": ", 1)[1]
                   + f"  ({time.time() - start:.0f} s)"
                   + (f"\n  {trial.user_attrs['error']}" if trial.state == TrialState.FAIL
                      and "error" in trial.user_attrs else ""))
    return callback


def run_study(base: ExperimentConfig, tune: TuneConfig, experiment_name: str | None = None,
              tracking_uri: str | None = None, print_line=print,
              register_model: str | None = None) -> StudyResult:
    """Run this worker's trials; with `register_model`, the study's best model is
    registered and the `champion` alias moved to it. Raises NoTrialCompleted when the
    study has no completed trial after this worker's part."""
    tune, dims = resolve(base, tune)
    splits, start, mlt = opening.open_store(
        base, experiment_name, tracking_uri,
        lambda splits: search_space.check_windows(base, dims, len(splits.x_train)))
    url = tune.storage or mlt.default_optuna_storage()
    storage = storages.open_storage(url, tune, _on_lost(tune, mlt), mlt.retry, print_line)
    pareto = tune.objective == "pareto"
    directions = ["maximize", SECOND_OBJECTIVE[tune.pareto_metric][1]] if pareto \
        else ["maximize"]
    sampler = workers.TrialSeeded(SAMPLERS.get(tune.sampler), base.seed)
    with optuna_quiet():
        study = optuna.create_study(study_name=tune.study_name, storage=storage,
                                    directions=directions, load_if_exists=True,
                                    sampler=sampler,
                                    pruner=TRIAL_PRUNERS.get(tune.trial_pruner)())
    key = hashlib.sha256(f"{url}|{tune.study_name}".encode()).hexdigest()[:16]
    params = {**tune.to_dict(), "storage": url, **opening.base_params(base)}
    # Trials must start runs of their own, not resume the one `mlflow run` made.
    own_run = os.environ.pop("MLFLOW_RUN_ID", None)
    parent = mlt.study_run(key, f"study-{tune.study_name}", params,
                           {"study_name": tune.study_name, "dataset": base.dataset,
                            "model": base.model, "objective": tune.objective}, own_run)
    with mlt.study_worker(parent):
        pipeline.ensure_pretrained(base, splits, start, parent,
                                     progress=print_line is not None)
        objective = make_objective(study, base, tune, dims, parent, mlt)
        progress = _progress(time.time(), print_line)

        def optimize(n_trials, timeout=None):
            study.optimize(objective, n_trials=n_trials, timeout=timeout,
                           catch=(UserError, TrainingDiverged), callbacks=[progress])

        with optuna_quiet(), _requeue_on_interrupt(study, tune, print_line):
            optimize(tune.n_trials, tune.timeout or None)
            workers.sweep_up(study, optimize, _orphaned(tune, mlt),
                             tune.grace_period + 2 * tune.heartbeat_interval, print_line)
        result = study_summary.summarize(study, base, tune, parent, url, mlt, register_model)
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
