"""A module imported on first use.

The registries of names (models, datasets) must be importable without TensorFlow:
config validation and `--help` run before it, and its import costs ~5 s.
"""
import importlib


class LazyModule:
    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr):
        module = importlib.import_module(self._name)
        self.__dict__.update(module.__dict__)  # later lookups skip __getattr__
        return getattr(module, attr)
