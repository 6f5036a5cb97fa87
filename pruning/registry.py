"""A name -> object table whose unknown-name error lists the valid names."""
from pruning.errors import ConfigError


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._items = {}

    def register(self, name: str):
        def add(obj):
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return add

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> list[tuple[str, object]]:
        """(name, object) in registration order: the order kinds are asked in."""
        return list(self._items.items())

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def get(self, name: str):
        if name not in self._items:
            raise ConfigError(self.kind, f"unknown {self.kind} {name!r}; choose one of: "
                              + ", ".join(self.names()))
        return self._items[name]


class SourceKinds(Registry):
    """Kinds of a source (where the data or the model come from), asked in registration
    order whether a spelling is theirs: from the string alone, so that a config checks
    it without reading a file or loading TensorFlow."""

    def __init__(self, parameter: str, names_of_builtins):
        super().__init__(f"{parameter} source")
        self.parameter = parameter
        self.names_of_builtins = names_of_builtins  # () -> the built-in names, for errors

    def kind_of(self, spec: str) -> str:
        for name, kind in self.items():
            if kind.claims(spec):
                return name
        raise ConfigError(self.parameter, f"unknown {self.parameter} {spec!r}; choose one of: "
                          + ", ".join(self.names_of_builtins()) + "; or give "
                          + "; or ".join(k.form for _, k in self.items() if k.form))
