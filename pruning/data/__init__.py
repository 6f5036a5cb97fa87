"""The data: where they come from (sources: a built-in name, a .npz file, a folder of
images, tfds:NAME) and how every source's arrays become checked, split, scaled `Splits`."""
from pruning.data.builtin import DATASETS
from pruning.data.splits import Splits, load

__all__ = ["DATASETS", "Splits", "load"]
