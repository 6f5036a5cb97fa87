"""A teacher other than the dense model (config.teacher): another recipe's dense model,
trained on the same split into the store's cache, its test accuracy and run on the
student's run; and the teacher option refused, in one line, where it cannot work."""
import pytest
from mlflow.tracking import MlflowClient

from pruning.config import ExperimentConfig
from pruning.errors import ConfigError
from pruning.experiment import pipeline
from pruning.experiment.progress import Progress


@pytest.fixture
def cnn_recipe(tmp_path):
    path = tmp_path / "teacher.toml"
    path.write_text('dataset = "synthetic"\nmodel = "cnn"\npretrain_epochs = 1\n'
                    'batch_size = 64\n[tune]\nn_trials = 2\n')
    return str(path)


def test_a_cnn_teaches_an_mlp_from_its_cached_dense_model(tiny, store, cnn_recipe, capsys):
    config = tiny.replace(distill_weight=1.0, teacher=cnn_recipe)
    result = pipeline.run(config, experiment_name="taught")
    client = MlflowClient()
    run = client.get_run(result.run_id)
    assert run.data.params["teacher"] == cnn_recipe and "-kd1-from-cnn" in run.info.run_name
    assert 0 < run.data.metrics["teacher_test_accuracy"] <= 1
    assert 0 < run.data.metrics["teacher_val_accuracy"] <= 1
    assert "distilled from the dense model of" in run.data.tags["mlflow.note.content"]
    teacher_run = client.get_run(run.data.tags["teacher_run_id"])
    assert teacher_run.data.params["model"] == "cnn"
    assert teacher_run.data.params["seed"] == str(config.seed)
    # the student's own dense model is its own pre-training, not the teacher's
    assert run.data.tags["pretrain_run_id"] != teacher_run.info.run_id
    assert len(result.history) == 4 and "distill_loss" in result.history[-1]
    # the second run finds the teacher in the cache; tracking off trains one of its own
    again_config = config.replace(final_sparsity=0.6)
    capsys.readouterr()
    again = pipeline.run(again_config, experiment_name="taught",
                         observers=[Progress(again_config)])
    assert client.get_run(again.run_id).data.tags["teacher_run_id"] == teacher_run.info.run_id
    assert f"teacher from the cache (run {teacher_run.info.run_id})" in capsys.readouterr().err
    offline = pipeline.run(config, tracking=False)
    assert offline.run_id is None and "teacher_test_accuracy" in offline.metrics


@pytest.mark.parametrize("values, fragment", [
    ({"teacher": "fashion_mnist_cnn"}, "teaches only through distillation"),
    ({"teacher": "nope", "distill_weight": 1.0}, "allowed a .toml file or a recipe"),
    ({"teacher": "missing.toml", "distill_weight": 1.0}, "no such file"),
    ({"teacher": "fashion_mnist_cnn", "distill_weight": 1.0}, "not 'mnist'"),
    ({"teacher": "fashion_mnist_cnn", "distill_weight": 1.0, "dataset": "fashion_mnist",
      "augment": "shift"}, "allowed: augment none"),
])
def test_a_teacher_that_cannot_teach_is_refused(values, fragment):
    with pytest.raises(ConfigError, match=fragment) as raised:
        ExperimentConfig(**values)
    assert raised.value.parameter == "teacher"
