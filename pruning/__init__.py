"""pruning: gradual magnitude pruning as tracked, comparable, tunable experiments.

tfmot only works with Keras 2 (tf-keras). TensorFlow picks its Keras on first
import, so the switch must be set before anything imports TensorFlow; this is
the one piece of work done at import time.
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

__version__ = "0.1.0"


def run(config, tracking=True, observers=()):
    """Run one pruning experiment (see `pruning.experiment.run`)."""
    from .experiment import run as _run

    return _run(config, tracking=tracking, observers=observers)
