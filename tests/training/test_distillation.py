"""Distillation from the dense model while pruning: the soft term's math against hand
values, and a run that distils (both granularity families) logging its soft term."""
import dataclasses
import math

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pruning.data import splits as data
from pruning.training import distillation
from pruning.experiment import pipeline
from pruning.models import builtin as models
from pruning.training import loop as train
from pruning.config import ExperimentConfig
from pruning.errors import ConfigError
from pruning.experiment.progress import Progress


def test_soft_loss_is_t_squared_kl_of_the_softened_outputs():
    teacher = np.array([[0.7, 0.2, 0.1]], dtype=np.float32)
    student = np.array([[0.5, 0.3, 0.2]], dtype=np.float32)
    t = 2.0

    def soften(p):
        q = p ** (1 / t)
        return q / q.sum()

    pt, ps = soften(teacher[0]), soften(student[0])
    expected = t * t * float(np.sum(pt * np.log(pt / ps)))
    got = float(distillation.soft_loss(teacher, student, t))
    assert got == pytest.approx(expected, rel=1e-5)
    # logits and their probabilities soften alike
    logits = np.log(student)
    assert float(distillation.soft_loss(teacher, logits, t, student_logits=True)) == \
        pytest.approx(expected, rel=1e-5)
    # a student that says what the teacher says owes nothing
    assert float(distillation.soft_loss(teacher, teacher, t)) == pytest.approx(0, abs=1e-6)
    # T = 1: plain KL
    kl = float(np.sum(teacher[0] * np.log(teacher[0] / student[0])))
    assert float(distillation.soft_loss(teacher, student, 1.0)) == pytest.approx(kl, rel=1e-5)


@pytest.mark.parametrize("granularity", ["weight", "channel"])
def test_a_distilled_run_logs_its_soft_term(tiny, store, capsys, granularity):
    config = tiny.replace(distill_weight=0.5, distill_temperature=3.0,
                          granularity=granularity, final_sparsity=0.8)
    result = pipeline.run(config, observers=[Progress(config)], experiment_name="kd")
    retrain = result.history[2:]  # after the 2 dense epochs
    assert all("distill_loss" not in epoch for epoch in result.history[:2])
    assert all(math.isfinite(e["distill_loss"]) and e["distill_loss"] > 0 for e in retrain)
    assert all("val_distill_loss" not in e for e in retrain)
    assert "distill " in capsys.readouterr().err
    run = MlflowClient().get_run(result.run_id)
    assert run.data.params["distill_weight"] == "0.5" and "-kd0.5" in run.info.run_name
    logged = MlflowClient().get_metric_history(result.run_id, "distill_loss")
    assert [m.step for m in logged] == [2, 3]
    assert result.metrics["sparsity"] > 0.5 and result.metrics["test_accuracy"] > 0


def test_the_soft_term_pulls_the_student_to_the_teacher_not_the_labels():
    """A teacher that learned shifted labels (class c called c + 1): a student trained on
    its outputs alone comes to say what the teacher says; on the labels alone it does not."""
    config = ExperimentConfig(dataset="synthetic", model="mlp", pretrain_epochs=4,
                              batch_size=64, distill_temperature=1.0)
    splits = data.load(config.dataset, "", config.val_fraction, config.seed)
    shifted = dataclasses.replace(splits, y_train=(splits.y_train + 1) % splits.num_classes)
    teacher = models.build(config.model, splits.input_shape, splits.num_classes, config)
    train.pretrain(teacher, shifted, config.replace(pretrain_lr=3e-3))
    says = teacher.predict(splits.x_train, verbose=0).argmax(-1)
    assert np.mean(says == shifted.y_train) > 0.8  # the teacher did learn the shift

    def agreement(weight):
        student = models.build(config.model, splits.input_shape, splits.num_classes, config)
        phase = train.Phase("retrain", 4, 3e-3, 0)
        train.fit(student, splits, config.replace(distill_weight=weight), phase, (),
                  teacher=teacher)
        return np.mean(student.predict(splits.x_train, verbose=0).argmax(-1) == says)

    with_teacher, labels_only = agreement(1.0), agreement(0.0)
    assert with_teacher > 0.8 > 0.2 > labels_only


@pytest.mark.parametrize("values, fragment", [
    ({"distill_weight": 1.5}, "distill_weight=1.5 is outside [0, 1]"),
    ({"distill_weight": -0.1}, "distill_weight=-0.1 is outside [0, 1]"),
    ({"distill_temperature": 0}, "distill_temperature=0 must be > 0"),
])
def test_bad_distillation_options_name_the_parameter(values, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        ExperimentConfig(**values)


def test_stored_teacher_outputs_teach_exactly_as_the_teacher_run_in_each_step():
    """A teacher's logits computed once and carried with the labels (Splits.
    teacher_outputs) train the student to the same weights as running the teacher in
    every step: the same batches, the same targets."""
    config = ExperimentConfig(dataset="synthetic", model="mlp", pretrain_epochs=1,
                              batch_size=64, distill_weight=0.7, distill_temperature=2.0)
    splits = data.load(config.dataset, "", config.val_fraction, config.seed)
    teacher = models.build(config.model, splits.input_shape, splits.num_classes, config)
    train.pretrain(teacher, splits, config)
    probabilities = teacher.predict(splits.x_train, verbose=0)
    stored = dataclasses.replace(splits, teacher_outputs=np.log(probabilities))

    def student_after(splits_, teacher_):
        student = models.build(config.model, splits.input_shape, splits.num_classes, config)
        train.fit(student, splits_, config, train.Phase("retrain", 2, 1e-3, 0), (),
                  teacher=teacher_)
        return student.get_weights()

    online, offline = student_after(splits, teacher), student_after(stored, teacher)
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(online, offline))
    untaught = student_after(stored, None)  # no teacher: the stored outputs are ignored
    assert not all(np.allclose(a, b, atol=1e-5) for a, b in zip(online, untaught))
