"""Workers on a shared study, with real Optuna storages: seeds, re-queueing, the
search space checked against the data, the database going away, and a study with
nothing to show."""
import optuna
import pytest
import sqlalchemy.exc

from pruning import cli
from pruning.studies import search_space
from pruning.studies import storage_urls, storages
from pruning.studies import workers
from pruning.config import ExperimentConfig
from pruning.studies.configs import DEFAULT_SEARCH
from pruning.errors import ConfigError

TrialState = optuna.trial.TrialState
SPACE = {"power": optuna.distributions.FloatDistribution(1, 5),
         "retrain_epochs": optuna.distributions.IntDistribution(2, 12)}


def _draw(study):
    trial = study.ask()
    values = {name: trial._suggest(name, dist) for name, dist in SPACE.items()}
    study.tell(trial, 0.5)
    return trial.number, values


def _worker(storage, name="s", seed=0):
    make = lambda s: optuna.samplers.TPESampler(seed=s, constant_liar=True)  # noqa: E731
    return optuna.load_study(study_name=name, storage=storage,
                             sampler=workers.TrialSeeded(make, seed))


def test_trial_seeds_are_fixed_by_base_seed_and_trial_number():
    seeds = {workers.trial_seed(0, n) for n in range(1000)}
    assert len(seeds) == 1000 and all(0 <= s < 2 ** 32 for s in seeds)
    assert workers.trial_seed(0, 7) == workers.trial_seed(0, 7) != workers.trial_seed(1, 7)


def test_workers_with_one_seed_draw_distinct_trials_and_one_worker_reproduces(tmp_path):
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    optuna.create_study(study_name="s", storage=shared)
    a, b, c = (_worker(shared) for _ in range(3))  # started together, same base seed
    drawn = [_draw(w) for _ in range(3) for w in (a, b, c)]
    assert len({tuple(v.items()) for _, v in drawn}) == 9
    alone = f"sqlite:///{tmp_path / 'alone.db'}"
    optuna.create_study(study_name="s", storage=alone)
    solo = _worker(alone)
    assert [_draw(solo) for _ in range(9)] == sorted(drawn, key=lambda d: d[0])


def test_requeue_queues_a_failed_trial_once(tmp_path):
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 'q.db'}")
    trial = study.ask()
    trial.suggest_float("power", 1, 5)
    study.tell(trial, state=TrialState.FAIL)
    assert workers.requeue(study, trial.number, max_retry=1)
    (waiting,) = study.get_trials(states=(TrialState.WAITING,))
    assert waiting.params == study.trials[0].params
    retry = study.ask()  # the re-queued trial runs next, with the same values
    assert retry.params == study.trials[0].params
    study.tell(retry, state=TrialState.FAIL)
    assert not workers.requeue(study, retry.number, max_retry=1)  # retries used up


def test_a_worker_goes_on_when_another_failed_its_trial_as_lost(tmp_path):
    study = optuna.create_study(study_name="lost", storage=f"sqlite:///{tmp_path / 'l.db'}")

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 1:  # what another worker's stale-trial check does meanwhile
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        return x

    said, seen = [], []
    workers.optimize(study, objective, 3, None, (), [lambda s, t: seen.append(t.number)],
                     said.append, grace_period=90)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL,
                                               TrialState.COMPLETE]
    assert seen == [0, 2]  # this worker's 3 trials, one of them lost
    assert said == ["a trial of this worker was failed by another one as lost (no heartbeat "
                    "for 90 s): its retry is queued"]
    with pytest.raises(IndexError):  # other errors are not swallowed
        workers.optimize(study, lambda t: [][1], 1, None, (), [], said.append, 90)


def test_default_search_space_is_valid_on_tiny_data():
    base = ExperimentConfig(dataset="synthetic", batch_size=64, frequency=1)
    dims = search_space.parse(DEFAULT_SEARCH, base, mask_updates=4)
    assert "mask_updates" in dims  # counts, not step intervals: valid on any data size
    search_space.check_windows(base, dims, n_train=50)


def test_a_frequency_space_that_fails_on_this_data_is_refused_before_the_study():
    base = ExperimentConfig(dataset="synthetic", batch_size=64)
    dims = search_space.parse("retrain_epochs=int:2:12; frequency=int:25:400:log")
    with pytest.raises(ConfigError, match="search: the trial retrain_epochs=2, frequency=25 "
                                          "would fail on these 500 training samples"):
        search_space.check_windows(base, dims, n_train=500)


def test_only_a_lost_connection_is_retried():
    gone = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed"))
    assert not storages._disconnected(optuna.exceptions.StorageInternalError("x"))
    wrapped = optuna.exceptions.StorageInternalError("commit failed")
    wrapped.__cause__ = gone
    assert storages._disconnected(wrapped)
    bad = sqlalchemy.exc.DataError("INSERT", {}, Exception("value too long"))
    assert not storages._disconnected(bad)


def test_unknown_storage_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="sqlite:///FILE, postgresql://"):
        storage_urls.kind_of("redis://localhost")


def test_study_with_no_completed_trial_exits_non_zero_and_says_why(store, tmp_path, capsys):
    code = cli.main(["tune", "--dataset", "synthetic", "--pretrain-epochs", "1",
                     "--batch-size", "64", "--mask-updates", "2", "--lr-schedule", "constant",
                     "--n-trials", "2", "--trial-pruner", "none", "--retrain-lr", "1e11",
                     "--storage", f"sqlite:///{tmp_path / 'none.db'}", "--study-name", "none",
                     "--search", "retrain_lr=float:1e11:1e12:log",
                     "--search", "retrain_epochs=int:1:2"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_NOTHING_TO_SHOW
    assert "no trial of study completed (2 fail)" in err and "TrainingDiverged" in err
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    (parent,) = [r for r in client.search_runs(
        [e.experiment_id for e in client.search_experiments()])
        if r.data.tags.get("pruning.role") == "study"]
    assert parent.info.status == "FAILED" and "no trial" in parent.data.tags["error"]
