"""One trial of a study: suggest -> config -> experiment -> number. The starting config
itself is the study's first trial, so the best trial is never worse than where the user
started. "Trial pruner" is Optuna stopping an unpromising *trial*; weight pruning is the
experiment the trial runs."""
from __future__ import annotations

import math

import numpy as np
import optuna

from pruning.config import ExperimentConfig
from pruning.experiment import describe, pipeline
from pruning.observers import Observer, interrupted
from pruning.studies import search_space
from pruning.studies.summary import SECOND_OBJECTIVE
from pruning.training import TrainingDiverged

# A trial's Outputs: no test set, no TFLite; the model only while it is the best so far.
TRIAL_OUTPUTS = dict(test_set=False, export=False)
STARTING_POINT = search_space.STARTING_POINT
# How a trial's run name shows the values searched: `#3 ep8 lr0.0003 p2.1`.
SHORT = {"retrain_epochs": "ep", "retrain_lr": "lr", "power": "p", "begin_fraction": "b",
         "end_fraction": "e", "mask_updates": "u", "final_sparsity": "s",
         "initial_sparsity": "s0", "retrain_dropout_scale": "drop", "distill_weight": "kd",
         "weight_decay": "wd", "frequency": "f"}


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
        # The starting trial runs the starting config itself, even where a value has no
        # spelling in the space (mask_updates of a config that sets frequency).
        start = bool(trial.user_attrs.get(STARTING_POINT))
        config = base if start else trial_config(base, values)
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
                                    name=trial_name(trial.number, values, start),
                                    model_name=f"{describe.model_name(config)}-trial"
                                               f"{trial.number}")
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
            if interrupted(e) or not isinstance(e, Exception) \
                    or isinstance(e, mlt.ServerUnreachable):
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


def trial_name(number: int, values: dict, start: bool = False) -> str:
    """`#3 ep8 lr0.0003 p2.1`: the trial and the values searched, short enough for the runs
    table's name column (the study is the parent run); `#0 start ...` for the starting
    config."""
    shown = " ".join(f"{SHORT.get(k, k + '=')}{v:.2g}" if isinstance(v, float)
                     else f"{SHORT.get(k, k + '=')}{v}" for k, v in values.items())
    return f"#{number}{' start' if start else ''} {shown}".rstrip()
