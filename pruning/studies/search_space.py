"""The Optuna search space as data: a string that round-trips through MLflow params.

    "retrain_epochs=int:2:12; power=float:1:5; mask_updates=int:4:100:log; schedule=cat:a|b"

Every name is an ExperimentConfig field; `suggest` is the one place that calls
`trial.suggest_*`.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

from pruning.config import ExperimentConfig
from pruning.errors import ConfigError
from pruning.sparsity import schedules

PARETO_SPARSITY = "float:0.5:0.98"  # final_sparsity's range when the Pareto mode adds it
MAX_CORNERS = 4096  # corners of the space checked against the data before a study starts


@dataclass(frozen=True)
class Dimension:
    name: str
    kind: str  # "int", "float" or "cat"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()

    def __str__(self):
        if self.kind == "cat":
            return f"{self.name}=cat:{'|'.join(map(str, self.choices))}"
        fmt = (lambda v: str(int(v))) if self.kind == "int" else repr
        return f"{self.name}={self.kind}:{fmt(self.low)}:{fmt(self.high)}" + \
            (":log" if self.log else "")


def _parse_one(entry: str) -> Dimension:
    fields = {f.name for f in dataclasses.fields(ExperimentConfig)}
    name, _, spec = (s.strip() for s in entry.partition("="))
    if name not in fields:
        raise ConfigError("search", f"search: {name!r} is not an experiment parameter; "
                          f"choose from: {', '.join(sorted(fields))}")
    if name in ExperimentConfig.dense_fields() + ExperimentConfig.start_fields():
        raise ConfigError("search", f"search: {name!r} changes the dense pre-training, which "
                          "is shared by all trials; fix it in the base config instead")
    kind, *args = spec.split(":")
    try:
        if kind == "cat":
            return Dimension(name, "cat", choices=tuple(args[0].split("|")))
        if kind in ("int", "float") and len(args) in (2, 3) and args[2:] in ([], ["log"]):
            cast = int if kind == "int" else float
            low, high = cast(args[0]), cast(args[1])
            if low >= high or (len(args) == 3 and low <= 0):
                raise ValueError
            return Dimension(name, kind, low, high, log=len(args) == 3)
    except (ValueError, IndexError):
        pass
    raise ConfigError("search", f"search: cannot read {entry.strip()!r}; write NAME=int:LOW:HIGH"
                      "[:log], NAME=float:LOW:HIGH[:log] (LOW < HIGH, LOW > 0 with log) or "
                      "NAME=cat:A|B|C")


def parse(text: str) -> dict[str, Dimension]:
    dims = [_parse_one(e) for e in text.split(";") if e.strip()]
    return {d.name: d for d in dims}


def check(base: ExperimentConfig, dims: dict[str, Dimension]) -> None:
    """Every value a dimension can take must make a valid config (the field's type and
    range), so a study never starts on a space that only fails trials."""
    for d in dims.values():
        values = [*d.choices] if d.kind == "cat" else [d.low, d.high]
        if d.kind == "cat" and not all(str(v).strip() for v in values):
            raise ConfigError("search", f"search: {d} has an empty choice")
        if d.kind != "cat" and isinstance(getattr(base, d.name), str):
            raise ConfigError("search", f"search: {d.name} takes names, not numbers; write "
                              f"{d.name}=cat:A|B")
        for value in values:
            try:
                ExperimentConfig.from_dict({**base.to_dict(), d.name: value})
            except ConfigError as e:
                raise ConfigError("search", f"search: {d} can give {d.name}={value}, which "
                                  f"is not allowed ({e})") from None


def check_windows(base: ExperimentConfig, dims: dict[str, Dimension], n_train: int) -> None:
    """Every corner of the space must leave a mask update on this data. Whether a window
    has one is monotone in each value (a longer retraining, an earlier begin, a smaller
    frequency only add updates), so the corners bound the whole box."""
    axes = [[(d.name, v) for v in (d.choices if d.kind == "cat" else (d.low, d.high))]
            for d in dims.values()]
    for corner in itertools.islice(itertools.product(*axes), MAX_CORNERS):
        values = {k: int(v) if dims[k].kind == "int" else v for k, v in corner}
        try:
            config = ExperimentConfig.from_dict({**base.to_dict(), **values})
            config.window(schedules.steps_per_epoch(n_train, config.batch_size))
        except ConfigError as e:
            shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in values.items())
            raise ConfigError("search", f"search: the trial {shown} would fail on these "
                              f"{n_train} training samples ({e}); narrow the space or search "
                              "mask_updates instead of frequency") from None


def merge(base: str, overrides: list[str]) -> str:
    """`base` with entries replaced or added; an entry NAME=off removes NAME."""
    dims = parse(base)
    for entry in overrides:
        name, _, spec = (s.strip() for s in entry.partition("="))
        if spec == "off":
            dims.pop(name, None)
        else:
            dims.update(parse(entry))
    return format_space(dims)


def format_space(dims: dict[str, Dimension]) -> str:
    return "; ".join(str(d) for d in dims.values())


def suggest(trial, dims: dict[str, Dimension]) -> dict:
    """All of Optuna's suggest calls: one value per dimension."""
    values = {}
    for d in dims.values():
        if d.kind == "cat":
            values[d.name] = trial.suggest_categorical(d.name, list(d.choices))
        elif d.kind == "int":
            values[d.name] = trial.suggest_int(d.name, int(d.low), int(d.high), log=d.log)
        else:
            values[d.name] = trial.suggest_float(d.name, d.low, d.high, log=d.log)
    return values
