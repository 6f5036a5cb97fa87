"""One experiment, the package's unit of work: the pipeline (data, dense model from the
cache, pruning at the configured granularity, what ships, export), where it records
(one MLflow run, or nowhere), and what it says about itself (names, notes, figures,
progress lines). Importing the package imports nothing: the pipeline loads TensorFlow."""
