"""What training reports to: tracking, progress printing and Optuna's trial reporting
are all observers. No TensorFlow here, so the tracking layer can import it cheaply."""
from __future__ import annotations

import numpy as np


class Observer:
    """Receives what training produces; every method is optional."""

    def epoch_end(self, step: int, metrics: dict[str, float]) -> None:
        """`step` is the epoch counted across both phases."""

    def mask_snapshot(self, step: int, masks: dict[str, np.ndarray], final: bool) -> None:
        """Masks of every pruned layer (True = kept) after retraining epoch `step`."""

    def status(self, text: str) -> None:
        """A step of work outside the training epochs (caching, export, logging)."""


_stop_signal: int | None = None  # the signal that asked this process to stop, if one did


def stop(signum: int, frame=None) -> None:
    """A signal handler: stop the work as Ctrl-C would (runs end KILLED, flushed)."""
    global _stop_signal
    _stop_signal = signum
    raise KeyboardInterrupt(f"signal {signum}")


def stop_if_asked() -> None:
    """Raise the stop again at a step between epochs. The handler's KeyboardInterrupt is
    dropped ("Exception ignored in ...") when it lands in a `__del__`, e.g. a tf.data
    iterator's at a phase's end: the run would go on and end FINISHED."""
    if _stop_signal is not None:
        raise KeyboardInterrupt(f"signal {_stop_signal}")


def interrupted(error: BaseException) -> bool:
    """Whether `error` ended the work because a stop was asked: Ctrl-C, or any error raised
    after a stop signal arrived. The handler's KeyboardInterrupt lands wherever the main
    thread is, and a library may turn it into its own error on the way out (a database
    driver cancelling the query it interrupted, then failing the commit): that is still
    the stop, and the run ends KILLED, not FAILED."""
    return isinstance(error, KeyboardInterrupt) or _stop_signal is not None


def tell(observers, text: str) -> None:
    """`text` to the observers that take a status (any object may be an observer)."""
    stop_if_asked()
    for observer in observers:
        getattr(observer, "status", lambda text: None)(text)
