"""A study starts from what the user has, and its champion earns its alias."""
import pytest
from mlflow.tracking import MlflowClient

from pruning import cli
from pruning.config import ExperimentConfig
from pruning.studies import trials, tune
from pruning.tracking.champion import decide
from pruning.studies.configs import TuneConfig

BASE = dict(dataset="synthetic", pretrain_epochs=1, retrain_epochs=2, batch_size=64,
            frequency=1, latency_runs=5, latency_window=0, calibration_samples=16)


@pytest.mark.fast
@pytest.mark.parametrize("current, value, digest, moves, why", [
    (None, 0.5, "d", True, "no champion yet"),
    ({"final_val_accuracy": "0.9", "dataset_digest": "d"}, 0.95, "d", True, "beats"),
    ({"final_val_accuracy": "0.9", "dataset_digest": "d"}, 0.9, "d", False, "does not beat"),
    ({"final_val_accuracy": "0.9", "dataset_digest": "d"}, 0.8, "d", False, "does not beat"),
    ({"final_val_accuracy": "0.5", "dataset_digest": "other"}, 0.9, "d", False, "other data"),
])
def test_the_alias_moves_only_for_a_better_model_on_the_same_data(current, value, digest,
                                                                  moves, why):
    moved, reason = decide(current, value, digest)
    assert moved is moves and why in reason


def test_trial_0_is_the_starting_config_and_the_best_is_never_worse(store, tmp_path):
    base = ExperimentConfig(**BASE)
    config = TuneConfig(n_trials=3, study_name="start", trial_pruner="none",
                        storage=f"sqlite:///{tmp_path / 'o.db'}")  # search: auto
    result = tune.run_study(base, config, experiment_name="t")
    import optuna

    study = optuna.load_study(study_name="start", storage=config.storage)
    first = study.trials[0]
    assert first.user_attrs[trials.STARTING_POINT] is True
    assert first.params["retrain_epochs"] == base.retrain_epochs
    assert first.params["retrain_lr"] == base.retrain_lr
    assert first.params["power"] == base.power
    # its run is the starting config itself (frequency, not a derived mask_updates)
    run = MlflowClient().get_run(first.user_attrs["mlflow_run_id"])
    assert run.data.params["frequency"] == "1" and run.data.params["mask_updates"] == "auto"
    assert run.info.run_name.startswith("#0 start ")
    assert result.best_values[0][0] >= first.value
    parent = MlflowClient().get_run(result.parent_run_id)
    assert parent.data.params["search"].startswith("retrain_epochs=int:1:4; retrain_lr=")


def test_a_worse_study_registers_but_leaves_the_champion_a_better_one_takes_it(store,
                                                                                tmp_path):
    def study(name, **changes):
        config = TuneConfig(n_trials=1, study_name=name, trial_pruner="none",
                            storage=f"sqlite:///{tmp_path / 'o.db'}")
        return tune.run_study(ExperimentConfig(**{**BASE, **changes}), config,
                              experiment_name="t", register_model="m")

    bad = study("bad", final_sparsity=0.995, initial_sparsity=0.99)
    assert "moved to it: no champion yet" in bad.registered
    good = study("good", final_sparsity=0.5)
    assert "version 2; alias `champion` moved to it: validation accuracy" in good.registered
    worse = study("worse", final_sparsity=0.995, initial_sparsity=0.99, retrain_epochs=1)
    assert "version 3; alias `champion` stays on version 2" in worse.registered
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("m", "champion").version) == "2"
    assert len(client.search_model_versions("name='m'")) == 3
    note = client.get_run(worse.parent_run_id).data.tags["mlflow.note.content"]
    assert "stays on version 2: validation accuracy" in note
    assert "trial 0 is the starting config itself" in note


@pytest.mark.fast
@pytest.mark.parametrize("argv, message", [
    (["tune", "--objective", "pareto", "--trial-pruner", "none", "--register-model", "m"],
     "register_model: a Pareto study has no single best model"),
    (["run", "--no-tracking", "--register-model", "m"],
     "register_model: --no-tracking logs nothing"),
])
def test_registering_what_cannot_be_registered_is_refused_in_one_line(argv, message, capsys):
    assert cli.main([*argv, "--dataset", "synthetic"]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
