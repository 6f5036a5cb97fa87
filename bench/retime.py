"""Time a logged int8 TFLite model again against its dense model's int8 conversion, on
a quiet machine, three times: a check of the latency a run logged (figures a run logged
before pruning/shipping/timing.py timed in a fresh process could be 1.3-1.6x slow).

    python bench/retime.py RUN_ARTIFACTS/model_int8.tflite DENSE_RUN_ARTIFACTS/dense/model.h5 \
        --data-dir ../data --dataset cifar10
"""
import argparse
from pathlib import Path

import pruning  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tf_keras as keras
from pruning.data import splits as data
from pruning.shipping import export


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("int8", help="the run's model_int8.tflite")
    parser.add_argument("dense", help="the dense model's model.h5 (its pretrain run)")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--data-dir", default="../data")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--calibration-samples", type=int, default=200)
    parser.add_argument("--window", type=float, default=12.0,
                        help="seconds each comparison is timed over")
    args = parser.parse_args()
    splits = data.load(args.dataset, args.data_dir, 0.1, 0)
    dense = keras.models.load_model(args.dense, compile=False)
    dense_int8 = export.to_tflite_int8(dense, splits.x_train[:args.calibration_samples],
                                       per_channel=True)
    pruned_int8 = Path(args.int8).read_bytes()
    for _ in range(3):
        d, p = export.latencies_us([dense_int8, pruned_int8], splits.x_test[0], args.runs,
                                   args.window)
        print(f"dense int8 {d:.1f} us, pruned int8 {p:.1f} us: {d / p:.2f}x", flush=True)


if __name__ == "__main__":
    main()
