"""Where an experiment's results go: nowhere (`Offline`), or one MLflow run (`Tracked`).

The experiment calls the same methods either way, so training runs the same with
tracking off. Only `Tracked` touches the tracking layer.
"""
from __future__ import annotations

import contextlib

from pruning import tracking
from pruning.experiment import describe
from pruning.figures import plots
from pruning.observers import Observer
from pruning.console import say


class Offline:
    """Tracking off: no cache, nothing logged."""
    run_id = None
    title = None
    observers = ()

    def start(self, config, splits): pass
    def find_pretrained(self, key): return None
    def copy_history(self, history): pass
    def tag(self, **tags): pass
    def finish(self, *args, **kwargs): return None
    def for_teacher(self): return self

    @contextlib.contextmanager
    def pretrain_run(self, key, params, name):
        yield _OfflinePretrain()


class _OfflinePretrain(Observer):
    run_id = None

    def save(self, model, history, metrics, note): pass


class MaskHistory(Observer):
    """Keeps the mask snapshots (in memory) for the pictures of how masks changed."""

    def __init__(self):
        self.snapshots = []

    def mask_snapshot(self, step, masks, final):
        self.snapshots.append((step, masks))


class Tracked:
    """Tracking on: everything into run `run_id` (the tracking layer does the MLflow calls)."""

    def __init__(self, run_id: str, title: str | None = None, model_name: str | None = None):
        self.mlt, self.run_id = tracking, run_id
        self.title, self.model_name = title, model_name  # the run's name, its model's
        self.masks = MaskHistory()
        self.observers = (tracking.RunObserver(run_id), self.masks)
        self.evaluation = None  # the MLflow dataset that test metrics name

    def start(self, config, splits):
        self.mlt.log_text(self.run_id, config.to_json(), "config.json")
        self.evaluation = self.mlt.log_dataset(splits)

    def find_pretrained(self, key):
        return self.mlt.find_pretrained(key, say=say)

    def copy_history(self, history):
        self.mlt.log_history(self.run_id, history)

    def tag(self, **tags):
        self.mlt.log_results(self.run_id, {}, tags)

    def pretrain_run(self, key, params, name):
        return self.mlt.pretrain_run(key, params, name, requested_by=self.run_id)

    def for_teacher(self):
        """Where a teacher's dense model goes: a pre-training run of its own, in the
        cache, that names this run; this run gets none of its epochs."""
        return PretrainOnly(self.run_id)

    def finish(self, config, metrics, history, window, model, splits, tflite_int8=None,
               pixel_layer=None, note: str = "", texts: dict | None = None,
               keras3_file: bytes | None = None) -> str | None:
        """Final metrics (on the run, and on its model when one is kept), note, plots;
        returns the model id. `keras3_file`: the model as a Keras 3 source gets it back
        (what the logged model then holds, and a registry user loads)."""
        model_id = None
        if tflite_int8 is not None:  # the file to deploy, also inside the logged model
            self.mlt.log_bytes(self.run_id, tflite_int8, "model_int8.tflite")
        if keras3_file is not None:
            self.mlt.log_bytes(self.run_id, keras3_file, "model_keras3/model.keras")
        if model is not None:
            # One past the last epoch: run metrics logged at a model's step attach to it,
            # and the run logs none there (the dense epochs would otherwise).
            model_id = self.mlt.log_model(self.run_id, model, splits.as_given(splits.x_val[:5]),
                                          self.model_name or describe.model_name(config),
                                          step=len(history), tflite_int8=tflite_int8,
                                          transform=splits.input_transform(),
                                          keras3_file=keras3_file)
            self.mlt.set_model_note(model_id, note)  # the model page's description
        # At the last epoch's step, so that e.g. the final sparsity does not restart a series.
        self.mlt.log_model_metrics(self.run_id, model_id, metrics, len(history) - 1,
                                   self.evaluation)
        self.mlt.set_note(self.run_id, note)
        for path, text in (texts or {}).items():
            self.mlt.log_text(self.run_id, text, path)
        figs = describe.figures(config, history, window, metrics, self.masks.snapshots,
                                pixel_layer)
        self.mlt.log_figures(self.run_id, figs, then=plots.close_one)
        return model_id


class PretrainOnly(Tracked):
    """Pre-training for a study or sweep: its own run, requested by theirs; the parent
    gets no epochs."""

    def __init__(self, run_id: str):
        super().__init__(run_id)
        self.observers = ()

    def copy_history(self, history): pass
    def tag(self, **tags): pass
