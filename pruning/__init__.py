"""pruning: gradual magnitude pruning as tracked, comparable, tunable experiments.

tfmot only works with Keras 2 (tf-keras). TensorFlow picks its Keras on first
import, so the switch must be set before anything imports TensorFlow; this is
the one piece of work done at import time.
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

from pruning.version import __version__  # noqa: E402,F401

from pruning.config import ExperimentConfig  # noqa: E402  (cheap: no TensorFlow)


def run(config, tracking=True, observers=()):
    """Run one pruning experiment (see `pruning.experiment.pipeline.run`)."""
    # Imported here, not above: `import pruning` must not load TensorFlow (the CLI refuses
    # bad input before it, and the switch above must come first).
    from pruning.experiment.pipeline import run as _run

    return _run(config, tracking=tracking, observers=observers)
