"""Recipes: the best configs this project knows, one TOML file per (dataset, model) pair.

`pruning/experiments/<dataset>_<model>.toml` (also reachable as `experiments/` at the
top of the checkout) is the recipe of that pair: a run of the pair with no `--config`
starts from it, flags override it, and `--recipe none` asks for the bare defaults.
The config records which one it started from in its `recipe` field.
"""
from __future__ import annotations

from pathlib import Path

from pruning.config.fields import read_file
from pruning.errors import ConfigError

FOLDER = Path(__file__).parent.parent / "experiments"
AUTO, NONE = "auto", "none"


def names() -> list[str]:
    return sorted(p.stem for p in FOLDER.glob("*.toml"))


def for_pair(dataset: str, model: str) -> str | None:
    """The recipe of a (dataset, model) pair, if the project has one."""
    name = f"{dataset}_{model}"
    return name if (FOLDER / f"{name}.toml").exists() else None


def load(name: str) -> dict:
    """A recipe's values (with any [tune]/[sweep] tables)."""
    if name not in names():
        raise ConfigError("recipe", f"unknown recipe {name!r}; choose one of: "
                          + ", ".join([AUTO, NONE, *names()]))
    return read_file(FOLDER / f"{name}.toml")


def values_of(spec: str, parameter: str) -> dict:
    """The values of a recipe named by `spec`, a recipe name or a .toml file (e.g. the
    teacher's); errors name `parameter`."""
    if spec.endswith(".toml"):
        if not Path(spec).is_file():
            raise ConfigError(parameter, f"{parameter}={spec!r}: no such file; allowed: a "
                              ".toml recipe file or a recipe name")
        return read_file(spec)
    if spec not in names():
        raise ConfigError(parameter, f"{parameter}={spec!r}: allowed a .toml file or a "
                          "recipe: " + ", ".join(names()))
    return load(spec)


def starting_values(config_file: str | None, recipe: str, dataset: str, model: str) -> dict:
    """What a command starts from, beneath its flags: the config file if one is given,
    else the named recipe, else (auto) the pair's recipe, else nothing. The result names
    its origin in `recipe`."""
    if config_file:
        if ":/" in config_file:  # e.g. runs:/<run id>/best_config.toml, as tune prints
            # Imported only for a URI: MLflow takes a second to import, and a command
            # refuses bad input before any heavy import.
            from pruning import tracking

            config_file = tracking.download(config_file)
        values = read_file(config_file)
        return {**values, "recipe": values.get("recipe", config_file)}
    if recipe == AUTO:
        recipe = for_pair(dataset, model) or NONE
    if recipe == NONE:
        return {"recipe": NONE}
    return {**load(recipe), "recipe": recipe}
