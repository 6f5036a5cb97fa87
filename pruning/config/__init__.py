"""The configuration: one frozen `ExperimentConfig` that holds every default and checks
itself cheaply (no TensorFlow), its fields' declarations and conversions, and the
recipes it may start from."""
from pruning.config.experiment import DEFAULT_PRETRAIN_EPOCHS, ExperimentConfig

__all__ = ["DEFAULT_PRETRAIN_EPOCHS", "ExperimentConfig"]
