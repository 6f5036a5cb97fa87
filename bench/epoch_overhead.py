"""Time per retraining epoch: `pruning`'s retrain (MLflow tracking + mask snapshots every
epoch) against a plain tfmot loop, same model, data, schedule and batch size, in one process.

    python bench/epoch_overhead.py --data-dir ../data --dataset mnist --epochs 6

Prints the median epoch time of each and the overhead. The first epoch of each is
dropped (graph tracing). Alternates the two, twice, to spread machine noise.
"""
import argparse
import statistics
import tempfile
import time

import pruning  # noqa: F401  (sets TF_USE_LEGACY_KERAS)


class EpochTimer:
    def __init__(self):
        self.times, self._start = [], None

    def on_epoch_begin(self, *_):
        self._start = time.perf_counter()

    def on_epoch_end(self, *_):
        self.times.append(time.perf_counter() - self._start)


def plain_tfmot(dense, splits, config, window):
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    timer = EpochTimer()
    callback = keras.callbacks.LambdaCallback(on_epoch_begin=timer.on_epoch_begin,
                                              on_epoch_end=timer.on_epoch_end)
    model = keras.models.clone_model(dense)
    model.set_weights(dense.get_weights())
    schedule = tfmot.sparsity.keras.PolynomialDecay(  # tfmot as a plain script uses it
        initial_sparsity=config.initial_sparsity, final_sparsity=config.final_sparsity,
        begin_step=window.begin_step, end_step=window.end_step, power=config.power,
        frequency=window.frequency)

    def wrap(layer):  # the same layers as `pruning`: every Dense but the output
        if isinstance(layer, keras.layers.Dense) and layer.name != "output":
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    pruned = keras.models.clone_model(model, clone_function=wrap)
    pruned.compile(optimizer=keras.optimizers.Adam(config.retrain_lr),
                   loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    pruned.fit(splits.x_train, splits.y_train, batch_size=config.batch_size,
               epochs=config.retrain_epochs, validation_data=(splits.x_val, splits.y_val),
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep(), callback], verbose=0)
    return timer.times[1:]


def ours(dense, splits, config, window, store):
    import mlflow

    from pruning import tracking
    from pruning.granularity import tfmot_pruning
    from pruning.observers import Observer

    class Timer(Observer):
        def __init__(self):
            self.stamps = []

        def epoch_end(self, step, metrics):
            self.stamps.append(time.perf_counter())

    timer = Timer()
    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    with tracking.experiment_run(config.to_dict(), "bench", {}) as run_id:
        start = time.perf_counter()
        # the tracking observer runs first: its logging time is inside each measured epoch
        tfmot_pruning.retrain(dense, splits, config, window,
                              [tracking.RunObserver(run_id), timer])
    stamps = [start, *timer.stamps]
    return [b - a for a, b in zip(stamps, stamps[1:])][1:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from pruning.data import splits as data
    from pruning.models import builtin as models
    from pruning.config import ExperimentConfig
    from pruning.sparsity import schedules

    config = ExperimentConfig(dataset=args.dataset, data_dir=args.data_dir, model=args.model,
                              retrain_epochs=args.epochs, mask_log_every=1,
                              lr_schedule="constant")
    splits = data.load(config.dataset, config.data_dir, config.val_fraction, config.seed)
    window = config.window(schedules.steps_per_epoch(len(splits.x_train), config.batch_size))
    dense = models.build(config.model, splits.input_shape, splits.num_classes, config)
    plain, tracked = [], []
    with tempfile.TemporaryDirectory() as store:
        for _ in range(args.repeats):
            plain += plain_tfmot(dense, splits, config, window)
            tracked += ours(dense, splits, config, window, store)
    a, b = statistics.median(plain), statistics.median(tracked)
    print(f"{args.model} on {args.dataset}, batch {config.batch_size}, "
          f"{len(splits.x_train)} samples, {args.epochs} epochs x {args.repeats}")
    print(f"plain tfmot loop      : {a:.3f} s/epoch (median of {len(plain)})")
    print(f"pruning run (tracked) : {b:.3f} s/epoch (median of {len(tracked)})")
    print(f"overhead              : {100 * (b / a - 1):+.1f}%")


if __name__ == "__main__":
    main()
