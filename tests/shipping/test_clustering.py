"""Weight sharing after pruning: every pruned kernel ends with at most `clusters` values
and the zeros pruning made, and the run logs the phase."""
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pruning.experiment import pipeline
from pruning.config import ExperimentConfig
from pruning.errors import ConfigError
from pruning.experiment.progress import Progress
from pruning.sparsity import policies


def test_clustered_run_ships_few_values_and_keeps_the_zeros(tiny, store, capsys):
    config = tiny.replace(clusters=4, cluster_epochs=1, final_sparsity=0.8)
    result = pipeline.run(config, observers=[Progress(config)], experiment_name="c")
    kernels = policies.prunable_kernels(result.pruned_model, config)
    for name, kernel in kernels.items():
        assert len(np.unique(kernel[kernel != 0])) <= 4, name
        assert np.mean(kernel == 0) == pytest.approx(0.8, abs=0.01), name
    m = result.metrics
    assert m["cluster_values"] <= 4 and m["sparsity"] == pytest.approx(0.8, abs=0.01)
    assert len(result.history) == 2 + 2 + 1  # dense, pruning, clustering epochs
    assert "[cluster 1/1] loss" in capsys.readouterr().err
    run = MlflowClient().get_run(result.run_id)
    assert run.info.run_name.endswith("-c4") and run.data.metrics["cluster_values"] <= 4
    logged = MlflowClient().get_metric_history(result.run_id, "cluster_accuracy")
    assert [m.step for m in logged] == [4]  # after 2 dense and 2 pruning epochs
    artifacts = {a.path for a in MlflowClient().list_artifacts(result.run_id, "plots")}
    assert "plots/sparsity_schedule.png" in artifacts
    assert m["test_accuracy"] > 0 and m["tflite_int8_bytes_gzip"] > 0


@pytest.mark.parametrize("values, fragment", [
    ({"clusters": 1}, "clusters=1: allowed 0 (none) or 2 to 256"),
    ({"clusters": 300}, "clusters=300: allowed 0 (none) or 2 to 256"),
    ({"clusters": 16, "qat_epochs": 1}, "use one of them"),
    ({"cluster_lr": 0}, "cluster_lr=0 must be > 0"),
])
def test_bad_clustering_options_name_the_parameter(values, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        ExperimentConfig(**values)
