"""The Optuna search space as data: a string that round-trips through MLflow params.

    "retrain_epochs=int:2:12; power=float:1:5; mask_updates=int:4:100:log; schedule=cat:a|b"

Every name is an ExperimentConfig field; `suggest` is the one place that calls
`trial.suggest_*`. The entry `auto` stands for the space around the starting config
(`around`), `NAME=off` drops a dimension; entries apply in order, so
`auto; power=off; final_sparsity=float:0.8:0.95` is the default space without power
and with the final sparsity.
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
    if "=" not in entry:
        raise ConfigError("search", f"search: cannot read {entry!r}; write auto (the space "
                          "around the starting config), NAME=int:LOW:HIGH[:log], "
                          "NAME=float:LOW:HIGH[:log], NAME=cat:A|B or NAME=off")
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


AUTO = "auto"
STARTING_POINT = "starting_point"  # the user attribute of the study's starting trial


def around(base: ExperimentConfig, mask_updates: int | None = None) -> dict[str, Dimension]:
    """The default space, built around the starting config so that it holds the config
    itself: retraining from half to twice its epochs, a learning rate from a quarter to
    four times its own, and the schedule's shape (begin and end of the window, power,
    number of mask updates) over ranges that include its values. `mask_updates`: the
    starting config's count when it sets frequency instead (None: 4 to 100)."""
    epochs, lr, updates = base.retrain_epochs, base.retrain_lr, base.mask_updates or mask_updates
    dims = [Dimension("retrain_epochs", "int", max(1, epochs // 2), max(2, 2 * epochs)),
            Dimension("retrain_lr", "float", lr / 4, lr * 4, log=True),
            Dimension("begin_fraction", "float", 0.0, max(0.3, base.begin_fraction)),
            Dimension("end_fraction", "float", min(0.4, base.end_fraction),
                      max(0.9, base.end_fraction)),
            Dimension("power", "float", min(1.0, base.power), max(5.0, base.power)),
            Dimension("mask_updates", "int", min(4, updates or 4), max(100, updates or 100),
                      log=True)]
    return {d.name: d for d in dims}


def parse(text: str, base: ExperimentConfig | None = None,
          mask_updates: int | None = None) -> dict[str, Dimension]:
    """The space `text` describes; `auto` expands around `base` (left out without one:
    the spelling alone is checked)."""
    dims: dict[str, Dimension] = {}
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        if entry == AUTO:
            dims.update(around(base, mask_updates) if base is not None else {})
        elif entry.partition("=")[2].strip() == "off":
            dims.pop(entry.partition("=")[0].strip(), None)
        else:
            dimension = _parse_one(entry)
            dims[dimension.name] = dimension
    return dims


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
    """`base` with entries replaced or added (applied in order: NAME=off removes NAME)."""
    text = "; ".join([base, *overrides])
    parse(text)  # the spelling, now
    return text


def format_space(dims: dict[str, Dimension]) -> str:
    return "; ".join(str(d) for d in dims.values())


def starting_values(base: ExperimentConfig, dims: dict[str, Dimension],
                    mask_updates: int) -> dict:
    """The starting config's value of every dimension: the trial Optuna runs first.
    `mask_updates`: the count its window holds when it sets frequency instead."""
    values = {}
    for name in dims:
        value = getattr(base, name)
        values[name] = mask_updates if name == "mask_updates" and value is None else value
    return values


def outside(values: dict, dims: dict[str, Dimension]) -> list[str]:
    """The values (NAME=VALUE) a space cannot hold: an explicit space may leave out the
    starting config, and Optuna's storages refuse a trial outside its distributions."""
    out = []
    for name, value in values.items():
        d = dims[name]
        held = (str(value) in map(str, d.choices)) if d.kind == "cat" \
            else value is not None and d.low <= value <= d.high
        if not held:
            out.append(f"{name}={value}")
    return out


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
