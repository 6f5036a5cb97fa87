"""How a sweep prunes its points, by name: a granularity's one-shot pruning (`weight`,
`unit`, `channel`), one threshold over all layers (`global`), or tfmot's gradual pruning
with retraining, run as a whole experiment (`gradual`). No TensorFlow: the sweep's
config checks its method names here."""
from __future__ import annotations

from dataclasses import dataclass

from pruning.granularity import GRANULARITIES
from pruning.registry import Registry


@dataclass(frozen=True)
class Method:
    # Takes the sweep's sparsity distributions (one curve per distribution); `global` has
    # one threshold for all layers, which is its own distribution.
    shares_per_layer: bool = True
    granularity: str | None = None  # prunes at once as this granularity does
    gradual: bool = False  # a whole experiment: tfmot's schedule while retraining


METHODS = Registry("method")
for _name in GRANULARITIES.names():
    METHODS.register(_name)(Method(granularity=_name))
METHODS.register("global")(Method(shares_per_layer=False))
METHODS.register("gradual")(Method(gradual=True))
