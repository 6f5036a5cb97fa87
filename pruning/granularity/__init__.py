"""*What* pruning removes, by name: the registry of granularities (see `base` for the
protocol every one follows). Importing it imports no TensorFlow: the config validates
names and options against it."""
from pruning.granularity.base import Granularity, Pruned
from pruning.granularity.structured import Channels
from pruning.granularity.weights import Weights
from pruning.registry import Registry

GRANULARITIES = Registry("granularity")
GRANULARITIES.register("weight")(Weights())
GRANULARITIES.register("unit")(Channels("unit", ("Dense",)))
GRANULARITIES.register("channel")(Channels("channel", ("Conv2D", "Dense"), removes_blocks=True))

__all__ = ["GRANULARITIES", "Granularity", "Pruned"]
