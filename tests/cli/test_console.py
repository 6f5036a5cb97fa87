import os
import pytest
import subprocess
import sys

from pruning import console

pytestmark = pytest.mark.fast  # pure math, no training: the developer's tier


def test_quiet_terminal_keeps_onednn_on():
    # Turning oneDNN off hid one banner line and cost CPU training half its speed.
    code = ("import os; from pruning import console; console.quiet(); "
            "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset'))")
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert out == ["unset"]


def test_library_banners_are_noise_and_results_are_not():
    banner = ("I0000 00:00:1795981301.859270 20535 port.cc:153] oneDNN custom operations "
              "are on. You may see slightly different numerical results due to "
              "floating-point round-off errors from different computation orders. To turn "
              "them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.")
    assert console.NOISE.search(banner)
    assert console.NOISE.search("oneDNN custom operations are on. To turn them off, set "
                                "the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.")
    assert not console.NOISE.search("[retrain 3/10] loss 0.2100 acc 0.9300 val_acc 0.9200")


def test_the_process_entry_point_freezes_the_heap_after_a_clean_exit_only():
    # Python's finalisation collects over every object TensorFlow made (~2 s a run);
    # frozen objects are skipped. After an interruption the collection must run: it is
    # what stops the threads of a training cut short.
    code = ("import gc, sys\nfrom pruning.cli import commands\nfrom pruning.cli.main import entry\n"
            "commands.COMMANDS['run'] = lambda args: int(sys.argv[-1])\n"
            "sys.argv = ['pruning', 'run', '--seed', sys.argv[-1]]\n"
            "print(entry(), gc.get_freeze_count() > 0)")
    for exit_code, frozen in (("0", "True"), ("130", "False")):
        out = subprocess.run([sys.executable, "-c", code, exit_code], capture_output=True,
                             text=True)
        assert out.stdout.split()[-2:] == [exit_code, frozen], out.stderr[-1000:]


def test_an_error_raised_after_a_stop_signal_exits_as_interrupted():
    # The signal's KeyboardInterrupt can come out of a library as the library's own error
    # (a database driver's failed commit): the process still says interrupted, exit 130.
    # Without a stop, the same error is a crash: its traceback, exit 1.
    code = ("import os, signal, sys\nfrom pruning.cli import commands\n"
            "from pruning.cli.main import main\n"
            "def run(args):\n"
            "    try:\n"
            "        if sys.argv[-1] == 'stop': os.kill(os.getpid(), signal.SIGTERM)\n"
            "        raise KeyboardInterrupt\n"
            "    except KeyboardInterrupt as e:\n"
            "        raise RuntimeError('the commit failed') from e\n"
            "commands.COMMANDS['run'] = run\n"
            "sys.exit(main(['run']))")
    stopped = subprocess.run([sys.executable, "-c", code, "stop"], capture_output=True,
                             text=True)
    assert stopped.returncode == 130, stopped.stderr[-1000:]
    assert "interrupted" in stopped.stdout + stopped.stderr
    crashed = subprocess.run([sys.executable, "-c", code, "crash"], capture_output=True,
                             text=True)
    assert crashed.returncode == 1
    assert "RuntimeError: the commit failed" in crashed.stderr
