"""A quiet terminal: the package's own lines, and what a user must act on.

TensorFlow, the TFLite converter and LiteRT write to file descriptor 2 from C++
(start-up banners, "failed call to cuInit" on a machine without a GPU, converter
statistics, the XNNPACK delegate line), and Python libraries warn about things a
user cannot change. Unless --verbose, native writes pass through a filter that
drops the known noise, and library warnings and logs below ERROR are silenced.
"""
from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
import warnings

def percent(share: float) -> str:
    """0.9 -> '90%', 0.973 -> '97.3%': a recipe at 97.3% is not named 97%."""
    return f"{share * 100:.1f}".removesuffix(".0") + "%"


def say(text: str) -> None:
    """One of the package's own lines: on stderr, so that a command's stdout holds only its
    results and where to find the run."""
    print(text, file=sys.stderr, flush=True)


NOISE = re.compile("|".join([
    r"^[IWE]\d{4} ",  # absl's C++ log lines (I/W/E; F, a fatal error, passes)
    r"^WARNING: All log messages before absl::InitializeLog",
    r"^INFO: Created TensorFlow Lite",
    r"oneDNN custom operations", r"TF_ENABLE_ONEDNN_OPTS",
    r"This TensorFlow binary is optimized", r"To enable the following instructions",
    r"rebuild TensorFlow with the appropriate compiler flags",
    r"^Summary on the non-converted ops", r"^-{5,}", r"^\s*\* Accepted dialects",
    r"^\s*\* Non-Converted Ops", r"^\s*\* \d+ ARITH ops", r"^\s*- arith\.constant",
    r"^\s*$", r"^Estimated count of arithmetic ops", r"^fully_quantize: ",
    r"inference_type: ", r"^Saved artifact at", r"^Output Type:", r"^Captures:",
    r"^Args:", r"^\s+(\d+|TensorSpec|<[a-zA-Z])",
]))
LIBRARY_LOGGERS = ("tensorflow", "absl", "mlflow", "alembic", "h5py", "urllib3", "optuna")


def quiet() -> None:
    """Silence library chatter for the rest of the process (call before TensorFlow loads)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Not TF_ENABLE_ONEDNN_OPTS=0, though it silences oneDNN's banner (NOISE drops that
    # line): without oneDNN, training runs about half as fast on these CPUs.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # read when mlflow configures its logs
    warnings.filterwarnings("ignore")
    # Libraries reset the filters (e.g. to "always"); nothing reaches the terminal anyway.
    warnings.showwarning = lambda *args, **kwargs: None
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    _filter_native_stderr()


def _filter_native_stderr() -> None:
    """Python keeps writing to the real stderr; C++ writes to fd 2 go through NOISE."""
    try:
        if sys.stderr.fileno() != 2:  # already redirected (e.g. captured by a test)
            return
        real = os.dup(2)
        read, write = os.pipe()
    except (OSError, ValueError, AttributeError):  # no real stderr to filter
        return
    sys.stderr.flush()
    os.dup2(write, 2)
    os.close(write)
    sys.stderr = open(real, "w", buffering=1, closefd=False)

    def pump():
        with open(read, "rb", buffering=0) as pipe:
            for raw in iter(pipe.readline, b""):
                line = raw.decode(errors="replace")
                if not NOISE.search(line):
                    os.write(real, raw)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()

    def drain():
        # Close our end of fd 2 so the pump sees EOF and writes what is left.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        thread.join(timeout=2)

    atexit.register(drain)
