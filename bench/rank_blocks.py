"""Ranking residual blocks (`--residual-blocks-removed`): each block's removal costed
by a compiled Keras evaluate per candidate model against direct calls on slices
(training.accuracy, what channels/pruning.py uses), on the tests' MobileNetV2.

    python bench/rank_blocks.py --repeats 2

Prints the seconds of each way per repeat, and whether both rank the blocks alike.
A candidate model is seen once, so evaluate's compile and tf.function tracing are paid
for every block; docs/benchmarks.md has the figures.
"""
import argparse
import time

import pruning  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from pruning import training
from pruning.config import ExperimentConfig
from pruning.data import splits as data
from pruning.granularity.channels import residual_blocks
from pruning.models import builtin as models


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    splits = data.load("synthetic", "", 0.1, 0)
    config = ExperimentConfig(dataset="synthetic", model="mobilenetv2", alpha=0.35,
                              input_size=32, granularity="channel", batch_size=64)
    model = models.build("mobilenetv2", splits.input_shape, splits.num_classes, config)
    ways = {
        "evaluate": lambda m: training.evaluate(m, splits.x_val, splits.y_val,
                                                config.batch_size)["accuracy"],
        "direct calls": lambda m: training.accuracy(m, splits.x_val, splits.y_val),
    }
    print(f"{len(residual_blocks.blocks(model))} residual blocks, {len(splits.x_val)} "
          "validation samples")
    for repeat in range(args.repeats):
        orders = {}
        for name, score in ways.items():
            began = time.perf_counter()
            orders[name] = [b.name for b, _ in residual_blocks.ranked(model, score)]
            print(f"repeat {repeat}: {name}: {time.perf_counter() - began:.1f} s")
        print(f"repeat {repeat}: same ranking: {len(set(map(tuple, orders.values()))) == 1}")


if __name__ == "__main__":
    main()
