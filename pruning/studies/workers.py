"""One tuning worker among many on a shared Optuna study (no MLflow here).

- *Which values* a trial draws: `TrialSeeded` seeds the sampler from (base seed, trial
  number). Trial numbers are unique in the storage, so workers started together never
  draw the same start-up trials, and a study one worker runs is reproducible from its
  base seed.
- *What happens to a trial a worker could not finish*: an interrupted trial (SIGTERM,
  Ctrl-C; also tried when the tracking server is gone, which does not always get this
  far) is FAILed by Optuna and re-queued here; a trial whose
  worker died (SIGKILL, lost machine) is FAILed by Optuna's heartbeat and re-queued by
  `RetryHeartbeatStaleTrialCallback`. Re-queued trials run first in any worker.
- *When a worker may leave*: `sweep_up` waits for trials of dead workers to go stale
  and runs their retries, so a study never ends with a dead trial still RUNNING.
"""
from __future__ import annotations

import contextlib
import time
import warnings

import numpy as np
import optuna

TrialState = optuna.trial.TrialState
SWEEP_POLL_SECONDS = 2
LOST_BY_OTHERS = "Cannot tell a FAIL trial"  # Optuna, when another worker failed it  # how often a leaving worker looks at trials of silent workers


@contextlib.contextmanager
def _stable():
    """Optuna's heartbeat helpers are "experimental" since 2.9; their warning says so
    on every call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def trial_seed(seed: int, number: int) -> int:
    """A 32-bit sampler seed for trial `number` of a study with base `seed`."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


class TrialSeeded(optuna.samplers.BaseSampler):
    """`make(seed)`'s sampler, created anew for each trial with `trial_seed`: samplers
    keep no history of their own (they read the study), only a random state."""

    def __init__(self, make, seed: int):
        self._make, self._seed = make, seed
        self._number, self._sampler = None, make(seed)

    def _of(self, trial):
        if trial.number != self._number:
            self._number = trial.number
            self._sampler = self._make(trial_seed(self._seed, trial.number))
        return self._sampler

    def before_trial(self, study, trial):
        self._of(trial).before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._of(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._of(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._of(trial).sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values):
        self._of(trial).after_trial(study, trial, state, values)


def requeue(study: optuna.Study, number: int, max_retry: int) -> bool:
    """Queue trial `number` again (same values) if it FAILed for a reason not its own;
    False once it has used its `max_retry` retries."""
    trial = study.get_trials(deepcopy=False)[number]
    if trial.state != TrialState.FAIL:
        return False
    before = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    with _stable():
        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)(study, trial)
    return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,))) > before


def optimize(study: optuna.Study, objective, n_trials: int, timeout, catch, callbacks, say,
             grace_period: int) -> None:
    """`study.optimize`, going on when another worker failed one of this worker's trials
    as lost (silent for grace_period: the storage was away longer than that). Optuna then
    refuses to tell the trial; its retry is queued by the other worker's callback."""
    told = []
    left = n_trials
    while left > 0:
        before = len(told)
        try:
            study.optimize(objective, n_trials=left, timeout=timeout, catch=catch,
                           callbacks=[lambda study, trial: told.append(trial.number),
                                      *callbacks])
            return
        except (ValueError, AssertionError) as e:
            if not _lost_by_others(e):
                raise
            say(f"a trial of this worker was failed by another one as lost (no heartbeat "
                f"for {grace_period} s): its retry is queued")
            left -= len(told) - before + 1


def _lost_by_others(error: BaseException | None) -> bool:
    """Optuna's refusal to tell the trial, or what its bookkeeping raises on top of it
    (an AssertionError "Should not reach." when the objective had returned)."""
    while error is not None:
        if isinstance(error, ValueError) and str(error).startswith(LOST_BY_OTHERS):
            return True
        error = error.__context__
    return False


def sweep_up(study: optuna.Study, run_waiting, orphaned, wait_limit: float, say) -> None:
    """Before this worker leaves: trials whose worker stopped answering (`orphaned(trial)`)
    are waited for until Optuna's heartbeat fails them (its callback re-queues them), and
    every re-queued trial is run here (`run_waiting(n)`), at most `wait_limit` s of waiting."""
    waited_since = None
    while True:
        with _stable():
            optuna.storages.fail_stale_trials(study)
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        if waiting:
            run_waiting(len(waiting))
            waited_since = None
            continue
        suspects = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                    if orphaned(t)]
        if not suspects:
            return
        if waited_since is None:
            waited_since = time.time()
            say(f"trial {', '.join(str(t.number) for t in suspects)} of a worker that stopped "
                f"answering: waiting up to {wait_limit:.0f} s to fail and re-run it")
        elif time.time() - waited_since > wait_limit:
            say("trials of silent workers left RUNNING; a later worker re-runs them")
            return
        time.sleep(SWEEP_POLL_SECONDS)
