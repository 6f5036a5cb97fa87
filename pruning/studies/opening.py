"""How every command of many runs opens (sweep, tune, sensitivity, seeds): the data and
the starting model checked, the store reachable, and only then a run, named and tagged
alike. Bad input is refused before anything exists in the store."""
from __future__ import annotations

from pruning import data, tracking
from pruning.experiment import dense
from pruning.experiment import describe


def open_store(base, experiment_name: str | None, tracking_uri: str | None, check=None):
    """(splits, starting point, the tracking layer) for `base`; `check(splits)` is the
    command's own check of its input, run before the store is touched."""
    tracking.use_tracking_uri(tracking_uri)
    splits = data.load(base.dataset, base.data_dir, base.val_fraction, base.seed)
    start, splits = dense.starting_point(base, splits)
    if check is not None:
        check(splits)
    tracking.check_store(experiment_name, tracking_uri, describe.experiment_name(base))
    return splits, start, tracking


def name(role: str, base) -> str:
    """e.g. sweep-mlp-mnist."""
    return f"{role}-{describe.short_name(base.model)}-{describe.short_name(base.dataset)}"


def tags(role: str, base, start=None, **more) -> dict:
    """The tags the runs table filters on: what the run is and what it ran on (and, with
    the starting point `start`, where its model came from)."""
    return {tracking.ROLE: role, "dataset": base.dataset, "model": base.model,
            "recipe": base.recipe, "granularity": base.granularity,
            **(start.tags() if start is not None else {}), **more}


def base_params(base) -> dict:
    """The base experiment's values, as a study's or sweep's parent logs them."""
    return {f"base.{k}": v for k, v in base.to_dict().items()}
