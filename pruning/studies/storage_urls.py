"""Which kind of Optuna storage a URL names, from its spelling alone: no Optuna and no
database are touched, so a config refuses a bad one before anything loads."""
from __future__ import annotations

from typing import Callable, NamedTuple

from pruning.errors import ConfigError
from pruning.registry import Registry

RDB_SCHEMES = ("sqlite", "postgresql", "mysql")
GRPC = "grpc://"


class Kind(NamedTuple):
    claims: Callable[[str], bool]
    form: str  # how the error line spells this kind


KINDS = Registry("storage")
KINDS.register("journal")(Kind(lambda url: url.endswith(".log") and "://" not in url,
                               "a journal file path ending in .log"))
KINDS.register("rdb")(Kind(lambda url: url.split("://")[0].split("+")[0] in RDB_SCHEMES,
                           "sqlite:///FILE, postgresql://..., mysql://..."))
KINDS.register("grpc")(Kind(lambda url: url.startswith(GRPC),
                            "grpc://HOST:PORT (an Optuna storage proxy: pruning "
                            "storage-proxy)"))


def kind_of(url: str) -> str:
    for name, kind in KINDS.items():
        if kind.claims(url):
            if name == "grpc":
                grpc_address(url)
            return name
    raise ConfigError("storage", f"storage={url!r} is not supported; use "
                      + ", ".join(kind.form for _, kind in KINDS.items()))


def grpc_address(url: str) -> tuple[str, int]:
    """grpc://HOST:PORT -> (HOST, PORT)."""
    host, _, port = url[len(GRPC):].rstrip("/").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("storage", f"storage={url!r}: a proxy is grpc://HOST:PORT, "
                          "e.g. grpc://optuna-proxy:13000 (port 1-65535)")
    return host, int(port)  # an IPv6 host keeps its brackets: gRPC wants "[::1]:PORT"
