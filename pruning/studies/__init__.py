"""Commands of many runs around one base experiment: Optuna studies (tune, with their
storages, workers and summary), sweeps, sensitivity analyses, seeds, and the report that
compares finished runs. Each opens the same way (opening)."""
