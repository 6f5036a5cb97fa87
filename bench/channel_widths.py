"""How much removing whole channels buys: a model pruned by channels at once (untrained:
latency does not depend on the weights) and rebuilt smaller by the same code `run`
ships with, its multiply-adds and batch-1 int8 LiteRT latency against the dense int8
model's. A sizing check for granularity=channel, not a test.

    python bench/channel_widths.py --data-dir ../data
    python bench/channel_widths.py --config experiments/cifar10_mobilenetv2.toml \
        --data-dir ../data --set pruning_policy=all sparsity_distribution=uniform
    python bench/channel_widths.py --config experiments/cifar10_mobilenetv2.toml \
        --data-dir ../data --dense DENSE.h5 --set residual_blocks_removed=3 ...
"""
import argparse

import pruning  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tf_keras as keras
from pruning.data import splits as data
from pruning.shipping import export
from pruning.shipping import flops
from pruning.models import builtin as models
from pruning.granularity.channels import rebuild
from pruning.granularity.channels import pruning as structured
from pruning.config import ExperimentConfig


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="a recipe (experiments/*.toml); default: the "
                                         "Fashion-MNIST cnn")
    parser.add_argument("--data-dir", default="../data")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--shares", default="0,0.25,0.4,0.5,0.6,0.75")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--dense", help="a trained model file to start from (default: the "
                                        "config's model, untrained); residual_blocks_removed "
                                        "ranks the blocks on it")
    args = parser.parse_args()
    base = ExperimentConfig.load(args.config) if args.config else \
        ExperimentConfig(dataset="fashion_mnist", model="cnn")
    shares = [float(s) for s in args.shares.split(",")]
    # The plan is checked against the config's final_sparsity (a latency distribution
    # refuses one its curves cannot reach): the widest cut timed here is that final one.
    config = ExperimentConfig.from_dict({**base.to_dict(), "granularity": "channel",
                                         "initial_sparsity": 0.0,
                                         "final_sparsity": max(shares) or base.final_sparsity,
                                         **dict(s.split("=", 1) for s in args.set)})
    splits = data.load(config.dataset, args.data_dir, 0.1, 0)
    dense = (keras.models.load_model(args.dense, compile=False) if args.dense else
             models.build(config.model, splits.input_shape, splits.num_classes, config))
    print(f"{config.model} on {config.dataset}, pruning_policy={config.pruning_policy}, "
          f"sparsity_distribution={config.sparsity_distribution}: "
          f"{flops.model_flops(dense) / 1e6:.2f} M multiply-adds dense")
    print("| share of channels removed | params | M multiply-adds | int8 latency (us) | "
          "vs dense int8 |")
    print("| --- | --- | --- | --- | --- |")
    rows = [("dense", dense.count_params(), flops.model_flops(dense))]
    tflites = [export.to_tflite_int8(dense, splits.x_train[:200], per_channel=True)]
    # One copy (without residual_blocks_removed blocks, ranked once), cut at each share.
    masked, masks = structured.prepare(dense, config, ("Conv2D", "Dense"), splits)
    if masks.plan.removed:
        print(masks.plan.removed_line())
    weights = masked.get_weights()
    for share in shares:
        structured.remove_at_once(masks, config, share)
        small = rebuild.rebuild(masked, masks.keep)
        tflites.append(export.to_tflite_int8(small, splits.x_train[:200], per_channel=True))
        rows.append((f"{masks.metrics()['channel_sparsity']:.0%}", small.count_params(),
                     flops.model_flops(small)))
        masked.set_weights(weights)
    # All widths timed together, round after round (pruning.shipping.timing says why).
    latencies = export.latencies_us(tflites, splits.x_test[0], args.runs, config.latency_window)
    for (share, params, macs), latency in zip(rows, latencies):
        print(f"| {share} | {params} | {macs / 1e6:.2f} | {latency:.0f} | "
              f"{latencies[0] / latency:.2f}x |")

if __name__ == "__main__":
    main()
