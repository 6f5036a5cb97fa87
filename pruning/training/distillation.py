"""Distillation from the dense model while pruning (Hinton et al. 2015): the pruned
student learns from the labels and from the dense teacher's softened outputs,

    loss = (1 - distill_weight) * CE(labels, student)
           + distill_weight * T^2 * KL(softmax(teacher / T) || softmax(student / T)),

T = distill_temperature. T^2 keeps the soft term's gradients on the hard term's scale as
T grows. Both see the same (augmented) batch: the teacher runs inside the step, unless
its outputs on the training images were computed once (`stored`: a teacher other than
the dense model, config.teacher), which then travel with the labels.

Why the student's own train_step is replaced rather than the student wrapped in a
Distiller model: every callback of the pruning fit (tfmot's UpdatePruningStep, the mask
snapshots, the epoch monitor) must see the student itself and find its pruning wrappers.
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras
from tf_keras.src.engine import data_adapter

from pruning.models import checks as model_checks


def softened(outputs, from_logits: bool, temperature: float):
    """softmax(logits / T); from probabilities, log p stands in for the logits (the
    softmax is blind to the constant between them)."""
    logits = outputs if from_logits else tf.math.log(tf.clip_by_value(outputs, 1e-7, 1.0))
    return tf.nn.softmax(logits / temperature, axis=-1)


def soft_loss(teacher_outputs, student_outputs, temperature: float,
              teacher_logits: bool = False, student_logits: bool = False):
    """T^2 * KL(teacher_T || student_T), averaged over the batch."""
    target = softened(teacher_outputs, teacher_logits, temperature)
    prediction = softened(student_outputs, student_logits, temperature)
    return temperature ** 2 * tf.reduce_mean(keras.losses.kl_divergence(target, prediction))


def attach(student, teacher, config, x_sample, labels, stored=None) -> tuple[list, object]:
    """Make `student.fit` distil from `teacher` at config.distill_weight and
    config.distill_temperature; from `stored` (the teacher's logits on the training
    images) in place of running it, when given. Returns the callbacks fit needs with it
    and the training targets: the labels, with the stored logits beside them. Neither
    when distillation is off (no teacher, or a weight of 0): no callbacks, the labels."""
    if teacher is None or not config.distill_weight:
        return [], labels
    weight, temperature = config.distill_weight, config.distill_temperature
    from_stored = stored is not None
    teacher_logits = from_stored or not model_checks.outputs_probabilities(teacher, x_sample)
    student_logits = not model_checks.outputs_probabilities(student, x_sample)
    # The epoch mean of the soft term, as Keras reports "loss": kept out of the student's
    # own metrics, or validation would log a val_distill_loss that nothing computes.
    tracker = keras.metrics.Mean(name="distill_loss")

    def train_step(data):
        x, y, sample_weight = data_adapter.unpack_x_y_sample_weight(data)
        if from_stored:
            y, teacher_outputs = y
        else:
            teacher_outputs = teacher(x, training=False)
        with tf.GradientTape() as tape:
            outputs = student(x, training=True)
            # compute_loss also updates the "loss" Keras reports: the labels' term alone,
            # comparable with runs that do not distil.
            hard = student.compute_loss(x, y, outputs, sample_weight)
            soft = soft_loss(teacher_outputs, outputs, temperature, teacher_logits,
                             student_logits)
            loss = (1.0 - weight) * hard + weight * soft
        student.optimizer.minimize(loss, student.trainable_variables, tape=tape)
        tracker.update_state(soft)
        return {**student.compute_metrics(x, y, outputs, sample_weight),
                "distill_loss": tracker.result()}

    student.train_step = train_step
    return [_ResetEachEpoch(tracker)], ((labels, stored) if from_stored else labels)


class _ResetEachEpoch(keras.callbacks.Callback):
    def __init__(self, tracker):
        super().__init__()
        self.tracker = tracker

    def on_epoch_begin(self, epoch, logs=None):
        self.tracker.reset_state()
