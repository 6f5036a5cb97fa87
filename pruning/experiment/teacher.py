"""A teacher other than the dense model being pruned (config.teacher): the dense model
of another recipe on the same data, split and seed, found in the store's cache or
trained there like any dense model; its outputs on the training images are computed
once and travel with the labels (Splits.teacher_outputs).

Why once: a CNN teacher run in every step of a 100-epoch MLP retraining would cost
several times the student's own training; its outputs on un-augmented images do not
change, and 54,000 x 10 logits are 2 MB.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from pruning import training
from pruning.config import preflight
from pruning.errors import ConfigError
from pruning.experiment import dense
from pruning.models import checks as model_checks
from pruning.observers import tell


def with_teacher(config, splits, recorder, observers) -> tuple[object, dict, dict]:
    """(splits with the teacher's logits on x_train, the teacher's metrics, the tags that
    name it); the splits as they are, and nothing, when the dense model teaches."""
    teacher_config = config.teacher_config()
    if teacher_config is None:
        return splits, {}, {}
    resolved, teacher_splits, _ = preflight.check(teacher_config, window=False)
    resolved = resolved.replace(pretrain_epochs=resolved.dense_epochs)
    start, teacher_splits = dense.starting_point(resolved, teacher_splits)
    if teacher_splits.digest != splits.digest:
        raise ConfigError("teacher", f"teacher={config.teacher!r} splits the data otherwise "
                          "than this run (its digest differs): its outputs would not line "
                          "up with these training images")
    tell(observers, f"the teacher: the dense model of {config.teacher} "
                    f"({resolved.model}, {resolved.dense_epochs} epochs)")
    model, _, metrics, run_id = dense.find_or_train(resolved, teacher_splits, start,
                                                   recorder.for_teacher(), observers,
                                                   what="teacher")
    outputs = model.predict(teacher_splits.x_train, batch_size=resolved.batch_size, verbose=0)
    if model_checks.outputs_probabilities(model, teacher_splits.x_val):
        # log p stands in for the logits: the softmax is blind to the constant between them
        outputs = np.log(np.clip(outputs, 1e-7, 1.0))
    val = training.evaluate(model, teacher_splits.x_val, teacher_splits.y_val,
                            resolved.batch_size)
    found = {"teacher_val_accuracy": val["accuracy"],
             **{k.replace("dense_", "teacher_"): v for k, v in metrics.items()}}
    return (dataclasses.replace(splits, teacher_outputs=outputs.astype(np.float32)), found,
            {"teacher_run_id": run_id} if run_id else {})
