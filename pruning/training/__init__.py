"""Training: the fit call of every phase, and what a phase may add to it (augmentation,
dropout rescaling, distillation from the dense model, masks held fixed, mask
snapshots). Imports TensorFlow."""
from pruning.training.loop import (Phase, Prefixed, TrainingDiverged, accuracy, evaluate,
                                  fit, pretrain)

__all__ = ["Phase", "Prefixed", "TrainingDiverged", "accuracy", "evaluate", "fit",
           "pretrain"]
