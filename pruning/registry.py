"""A name -> object table whose unknown-name error lists the valid names."""
from .errors import ConfigError


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
