"""The package's shape, checked: layers point one way (import-linter's contracts in
pyproject.toml), no import cycle anywhere (imports inside functions count), the config
checks itself without TensorFlow, and no module outgrows a screenful of screens."""
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

pytestmark = pytest.mark.fast
ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_are_kept():
    done = subprocess.run(["lint-imports", "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10000)
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return out


def test_no_import_cycle_counting_imports_inside_functions():
    graph = grimp.build_graph("pruning")  # grimp reads every import statement, nested too
    assert _cycles(graph) == []


def test_the_config_and_the_cli_parser_load_no_tensorflow_mlflow_or_optuna():
    code = ("import sys\nimport pruning\nfrom pruning import cli\n"
            "from pruning.config import ExperimentConfig, preflight\n"
            "ExperimentConfig(granularity='channel')\n"
            "heavy = [m for m in ('tensorflow', 'tf_keras', 'mlflow', 'optuna') "
            "if m in sys.modules]\nprint(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "[]", done.stderr[-2000:]


def test_the_top_level_stays_small_and_modules_short():
    package = ROOT / "pruning"
    top = [p.name for p in package.glob("*.py")]
    assert len(top) <= 15, top  # the rest lives in a package per concept
    long = {str(p.relative_to(ROOT)): n for p in package.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 320}
    assert long == {}
