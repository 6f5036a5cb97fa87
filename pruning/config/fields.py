"""How a config field declares itself, and how typed-in or logged values are read back.

Shared by the config dataclasses (pruning.config): the file, dict and string forms a
value arrives in (TOML, JSON, MLflow params, CLI flags) become the field's type here,
and every field's declared choices and finiteness are checked here.
"""
from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from dataclasses import field
from pathlib import Path

from pruning.errors import ConfigError

AUTO = "auto"  # how "derive this from the rest" is spelled on the command line


# Roles a field can declare (`role=`): what else it feeds.
DENSE = "dense"  # how the dense model is trained from its starting point: in the cache key
START = "start"  # picks or shapes the starting model or the data: in their digests


def declare(default, help: str, choices: tuple | None = None, cli_default=None,
            role: str | None = None):
    """A field with its help text, its allowed values, the default the command line
    shows when it differs (a value the CLI resolves before building the config), and
    its role."""
    return field(default=default, metadata={"help": help, "choices": choices,
                                            "cli_default": cli_default, "role": role})


def with_role(cls, role: str) -> tuple[str, ...]:
    """The names of the fields of `cls` that declare `role`."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("role") == role)


def read_file(path: str | Path) -> dict:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError("config", f"config: cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError("config", f"config: {path} is not UTF-8 text") from None
    try:
        if path.suffix == ".toml":
            return tomllib.loads(text)
        return json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ConfigError("config", f"config: {path} is not valid "
                          f"{'TOML' if path.suffix == '.toml' else 'JSON'}: {e}") from None


def check_fields(config) -> None:
    """Choices and finiteness, for every field that declares them."""
    for f in dataclasses.fields(config):
        value, choices = getattr(config, f.name), f.metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(f.name, f"{f.name}={value!r} is not allowed; choose one of: "
                              + ", ".join(choices))
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f.name, f"{f.name} must be a finite number, got {value}")


def from_dict(cls, values: dict):
    """Build a config from a dict whose values may be strings (MLflow params, CLI flags)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(unknown[0], f"unknown parameter(s) {', '.join(unknown)}; "
                          f"valid: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    return cls(**{k: coerce(k, v, hints[k]) for k, v in values.items()})


def coerce(name: str, value, hint):
    """Turn a logged or typed-in value back into the field's type."""
    optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
    base = next(t for t in typing.get_args(hint) if t is not type(None)) if optional else hint
    if value is None or (optional and str(value).lower() in (AUTO, "none", "")):
        if optional:
            return None
        raise ConfigError(name, f"{name} needs a value")
    if isinstance(value, str):
        try:
            if base is bool:
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return value.lower() in ("true", "1", "yes")
            if base is int:
                return int(float(value)) if float(value).is_integer() else int(value)
            return base(value)
        except ValueError:
            raise ConfigError(name, f"{name}={value!r} is not a valid {base.__name__}"
                              + (" (or auto)" if optional else "")) from None
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, base) or (base is int and isinstance(value, bool)):
        raise ConfigError(name, f"{name}={value!r} is not a valid {base.__name__}")
    return value


class Conversions:
    """What every config dataclass does with its values: dict and JSON out, a dict of
    strings or values in (checked by the dataclass itself), a copy with changes."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict):
        return from_dict(cls, values)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)
