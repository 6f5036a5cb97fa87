"""What the terminal shows: one line per epoch with its phase, the steps between
(cache, export, logging), and how long the run has taken. Everything on stderr;
results and where to find the run are the command's stdout."""
from __future__ import annotations

import time

from pruning.console import say
from pruning.observers import Observer


class Progress(Observer):
    def __init__(self, config, prefix: str = ""):
        self.config, self.prefix, self.start = config, prefix, time.time()

    def _print(self, text: str, cost: str = "") -> None:
        say(f"{self.prefix}{text}  ({time.time() - self.start:.0f} s{cost})")

    def epoch_end(self, step, metrics):
        c, first = self.config, 0
        # Steps run on across the phases; quantization-aware epochs report qat_* metrics.
        for phase, total, prefix in (("pretrain", c.dense_epochs, ""),
                                     ("retrain", c.retrain_epochs, ""),
                                     ("cluster", c.cluster_epochs if c.clusters else 0,
                                      "cluster_"),
                                     ("qat", c.qat_epochs, "qat_")):
            if step < first + total:
                break
            first += total
        epoch = step - first + 1
        line = (f"[{phase} {epoch}/{total}] loss {metrics[prefix + 'loss']:.4f} "
                f"acc {metrics[prefix + 'accuracy']:.4f} "
                f"val_acc {metrics[prefix + 'val_accuracy']:.4f}")
        if "distill_loss" in metrics:  # loss is the labels' term; this the dense model's
            line += f" distill {metrics['distill_loss']:.4f}"
        line += c.pruned_by().progress(c, metrics)
        if prefix + "epoch_cores" in metrics:  # a slow epoch on ~1 core: a busy machine
            self._print(line, f"; epoch {metrics[prefix + 'epoch_seconds']:.0f} s on "
                              f"{metrics[prefix + 'epoch_cores']:.1f} cores")
        else:
            self._print(line)

    def status(self, text):
        self._print(f"[{text}]")
