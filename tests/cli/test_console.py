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


def test_the_process_entry_point_freezes_the_heap_before_python_finalises():
    # Python's finalisation collects over every object TensorFlow made (~2 s a run);
    # frozen objects are skipped. Checked on a bad-input exit: the path is the same.
    code = ("import gc, sys\nfrom pruning.cli.main import entry\n"
            "sys.argv = ['pruning', 'run', '--final-sparsity', '2']\n"
            "code = entry()\nprint(code, gc.get_freeze_count() > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split()[-2:] == ["2", "True"], out.stderr[-1000:]
