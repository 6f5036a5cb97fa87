"""What the server tiers wait for in a shared study."""
import time

import optuna


def wait_for_running_trial(read_trials, timeout: float = 300):
    """The first trial RUNNING with its MLflow run started; `read_trials()` reads the study
    (KeyError while it does not exist yet)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.5)
        try:
            running = [t for t in read_trials() if t.state == optuna.trial.TrialState.RUNNING
                       and "mlflow_run_id" in t.user_attrs]
        except KeyError:  # the study does not exist yet
            continue
        if running:
            return running[0]
    raise AssertionError("no trial started")
