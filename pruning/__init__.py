"""pruning: gradual magnitude pruning as tracked, comparable, tunable experiments.

tfmot only works with Keras 2 (tf-keras). TensorFlow picks its Keras on first
import, so the switch must be set before anything imports TensorFlow; this is
the one piece of work done at import time.
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

from pruning.version import __version__  # noqa: E402,F401

from pruning.config import ExperimentConfig  # noqa: E402  (cheap: no TensorFlow)


def run(config, tracking=True, observers=(), **options):
    """Run one pruning experiment (see `pruning.experiment.pipeline.run`). `options`:
    model (a tf_keras or Keras 3 model object to start from, in place of config.model),
    experiment_name, tracking_uri, register_model, name, tags."""
    # Imported here, not above: `import pruning` must not load TensorFlow (the CLI refuses
    # bad input before it, and the switch above must come first).
    from pruning.experiment.pipeline import run as _run

    return _run(config, tracking=tracking, observers=observers, **options)
