"""The package version: in the dense cache's key and on every logged model."""
__version__ = "0.1.0"
