"""The whole experiment against a real, temporary MLflow store."""
import signal

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pruning import observers
from pruning.experiment import pipeline

from tests.conftest import use_store
from pruning.tracking import masks_file


def _artifacts(client, run_id, path=""):
    out = []
    for item in client.list_artifacts(run_id, path):
        out += _artifacts(client, run_id, item.path) if item.is_dir else [item.path]
    return out


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """Two runs sharing one store: the second must reuse the first's dense model."""
    from pruning.config import ExperimentConfig

    with use_store(tmp_path_factory.mktemp("store")):
        config = ExperimentConfig(dataset="synthetic", pretrain_epochs=2, retrain_epochs=2,
                                  batch_size=64, frequency=1, latency_runs=5, latency_window=0,
                                  calibration_samples=16)
        first = pipeline.run(config, experiment_name="t")
        second = pipeline.run(config.replace(final_sparsity=0.8), experiment_name="t")
        yield config, first, second, MlflowClient()


def test_params_are_the_config_and_its_resolved_window(tracked):
    config, first, _, client = tracked
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["final_sparsity"] == "0.9" and params["dataset"] == "synthetic"
    assert params["begin_step"] == params["end_step"] == "auto"
    assert params["resolved_begin_step"] == str(first.window.begin_step) == "0"
    assert params["resolved_end_step"] == str(first.window.end_step)
    assert int(params["total_steps"]) == first.window.total_steps
    from pruning.config import ExperimentConfig

    fields = {k: v for k, v in params.items() if k in config.to_dict()}
    assert ExperimentConfig.from_dict(fields) == config  # params round-trip
    # config.json is the resolved config: --config reproduces the same window
    logged = ExperimentConfig.load(client.download_artifacts(first.run_id, "config.json"))
    assert logged == first.config and logged.end_step == first.window.end_step


def test_per_epoch_metrics_span_both_phases(tracked):
    config, first, _, client = tracked
    history = {m: [x.step for x in client.get_metric_history(first.run_id, m)]
               for m in ("loss", "val_accuracy", "lr", "sparsity", "target_sparsity",
                         "sparsity/fc1", "mask_change")}
    assert history["loss"] == [0, 1, 2, 3] and history["val_accuracy"] == [0, 1, 2, 3]
    # the final sparsity is logged at the last epoch's step, extending no series
    assert history["sparsity"] == [2, 3, 3] and history["sparsity/fc1"] == [2, 3, 3]
    assert history["mask_change"] == [3]


def test_final_metrics(tracked):
    _, first, _, client = tracked
    metrics = client.get_run(first.run_id).data.metrics
    expected = {"test_accuracy", "test_loss", "dense_test_accuracy", "sparsity", "nonzero_params",
                "total_params", "dense_model_bytes", "dense_model_bytes_gzip", "model_bytes_gzip",
                "tflite_bytes", "tflite_int8_bytes", "tflite_int8_bytes_gzip",
                "tflite_int8_test_accuracy", "dense_latency_us", "latency_us"}
    assert expected <= metrics.keys()
    assert metrics["sparsity"] == pytest.approx(0.9, abs=1e-3)
    assert metrics["model_bytes_gzip"] < metrics["dense_model_bytes_gzip"]
    assert metrics["tflite_int8_bytes"] < metrics["tflite_bytes"]
    assert metrics["dense_latency_us"] > 0 and metrics["latency_us"] > 0
    assert metrics["nonzero_params"] < metrics["total_params"]


def test_artifacts_masks_plots_model(tracked):
    _, first, _, client = tracked
    files = set(_artifacts(client, first.run_id))
    assert {"config.json", "masks/final.npz", "masks/epoch_0002.npz", "masks/epoch_0003.npz",
            "model_int8.tflite", "plots/training_curves.png", "plots/sparsity_schedule.png",
            "plots/layer_sparsity.png", "plots/masks_final.png", "plots/mask_changes.png",
            "plots/pixel_map.png"} <= files
    path = client.download_artifacts(first.run_id, "masks/final.npz")
    final = masks_file.from_npz(path)
    for name, mask in final.items():
        np.testing.assert_array_equal(mask, first.pruned_model.get_layer(name).kernel.numpy() != 0)


def test_model_loads_with_pyfunc_and_predicts(tracked):
    _, first, _, client = tracked
    from pruning.data import splits as data

    splits = data.load("synthetic", "", 0.1, 0)
    model = mlflow.pyfunc.load_model(f"models:/{first.model_id}")
    predictions = np.asarray(model.predict(splits.as_given(splits.x_test[:8])))
    np.testing.assert_allclose(predictions, first.pruned_model.predict(splits.x_test[:8]),
                               rtol=1e-5, atol=1e-6)
    assert model.metadata.get_input_schema() is not None


def test_dataset_logged_with_digest(tracked):
    _, first, _, client = tracked
    inputs = client.get_run(first.run_id).inputs.dataset_inputs
    assert {i.dataset.name for i in inputs} == {"synthetic-training", "synthetic-evaluation"}
    assert all(len(i.dataset.digest) > 0 for i in inputs)


def test_costs_beside_the_dense_model(tracked):
    _, first, _, client = tracked
    m = client.get_run(first.run_id).data.metrics
    assert m["dense_int8_latency_us"] > 0 and m["int8_latency_us"] > 0
    # unstructured zeros are still executed: as many multiply-adds as the dense model
    assert m["flops"] == m["dense_flops"] == 200 * 300 + 300 * 100 + 100 * 10
    note = client.get_run(first.run_id).data.tags["mlflow.note.content"]
    assert "M multiply-adds per input" in note and "(int8 " in note


def test_dense_model_cached_in_the_store(tracked):
    _, first, second, client = tracked
    a, b = client.get_run(first.run_id).data.tags, client.get_run(second.run_id).data.tags
    assert a["pretrain_cached"] == "false" and b["pretrain_cached"] == "true"
    assert a["pretrain_key"] == b["pretrain_key"]
    assert a["pretrain_run_id"] == b["pretrain_run_id"] == first.pretrain_run_id
    pre = client.get_run(first.pretrain_run_id)
    assert pre.info.status == "FINISHED" and pre.data.tags["pruning.role"] == "pretrain"
    assert any(k.startswith("system/") for k in pre.data.metrics)  # CPU, memory
    # the reusing run still shows the dense epochs, copied from the pre-training
    assert [m.step for m in client.get_metric_history(second.run_id, "loss")] == [0, 1, 2, 3]
    assert second.metrics["dense_test_accuracy"] == first.metrics["dense_test_accuracy"]


def test_run_explains_itself(tracked):
    _, first, _, client = tracked
    tags = client.get_run(first.run_id).data.tags
    assert tags["dataset"] == "synthetic" and tags["model"] == "mlp"
    assert tags["mlflow.runName"] == "mlp-synthetic-50%to90%"
    assert "test accuracy" in tags["mlflow.note.content"]
    # a second top-level run of the same experiment is told apart
    assert client.get_run(tracked[2].run_id).data.tags["mlflow.runName"] == \
        "mlp-synthetic-50%to80%"
    experiment = client.get_experiment(client.get_run(first.run_id).info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    # CPU and memory while it ran
    assert any(k.startswith("system/") for k in client.get_run(first.run_id).data.metrics)


def test_same_name_twice_gets_a_number(store, tiny):
    first = pipeline.run(tiny, experiment_name="twice")
    second = pipeline.run(tiny, experiment_name="twice")
    client = MlflowClient()
    names = [client.get_run(r.run_id).info.run_name for r in (first, second)]
    assert names == ["mlp-synthetic-50%to90%", "mlp-synthetic-50%to90% #2"]


def test_tracking_off_logs_nothing(store, tiny):
    result = pipeline.run(tiny, tracking=False)
    assert result.run_id is None and result.metrics["sparsity"] == pytest.approx(0.9, abs=1e-3)
    assert MlflowClient().search_runs([e.experiment_id for e in
                                       MlflowClient().search_experiments()]) == []


class Boom(RuntimeError):
    pass


class FailAt:
    def __init__(self, step, error):
        self.step, self.error = step, error

    def epoch_end(self, step, metrics):
        if step == self.step:
            raise self.error

    def mask_snapshot(self, step, masks, final):
        pass


class StopTurnedIntoAnError:
    """A stop signal during epoch 2 whose KeyboardInterrupt a library turns into its own
    error, as a database driver does when it cancels the query the signal cut."""

    def epoch_end(self, step, metrics):
        if step == 2:
            try:
                observers.stop(signal.SIGTERM)
            except KeyboardInterrupt as stop:
                raise Boom("the commit failed") from stop

    def mask_snapshot(self, step, masks, final):
        pass


def test_an_error_after_a_stop_signal_ends_the_run_killed(store, tiny, monkeypatch):
    monkeypatch.setattr(observers, "_stop_signal", None)  # restored: later tests run on
    with pytest.raises(Boom):
        pipeline.run(tiny, observers=[StopTurnedIntoAnError()])
    client = MlflowClient()
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                "tags.`pruning.role` = 'experiment'")
    assert run.info.status == "KILLED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [0, 1, 2]


@pytest.mark.parametrize("error,status", [(Boom("disk on fire"), "FAILED"),
                                          (KeyboardInterrupt(), "KILLED")])
def test_crash_marks_run_and_keeps_what_was_logged(store, tiny, error, status):
    with pytest.raises(type(error)):
        pipeline.run(tiny, observers=[FailAt(2, error)])
    client = MlflowClient()
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    by_role = {r.data.tags["pruning.role"]: r for r in runs}
    assert by_role["experiment"].info.status == status
    assert by_role["pretrain"].info.status == "FINISHED"  # the cache survives
    run_id = by_role["experiment"].info.run_id
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [0, 1, 2]
    if status == "FAILED":
        assert "disk on fire" in client.get_run(run_id).data.tags["error"]
        assert "error.txt" in _artifacts(client, run_id)
