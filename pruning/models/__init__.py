"""The dense model: built-in architectures (builtin), where a starting model comes from
(sources: a name, a file, an MLflow URI, a builder) and what pruning needs of it (checks)."""
