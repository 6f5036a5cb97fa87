"""Look at what a user sees in the MLflow UI: a script, not a test.

Fills a fresh store with a run, a sweep and a 3-trial study (synthetic data unless
--data-dir and --dataset say otherwise), starts `mlflow server` on it, opens the pages in
headless Chromium (Debian's, driven by Playwright) and saves screenshots:

    apt-get install chromium && pip install playwright
    python bench/ui_check.py --out docs/ui

Pages: the runs table in the model-training view, a run's page and its pictures, the
models tab with two models' own metrics, the study's parent with its named children,
and the registered model with its alias.
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--pretrain-epochs", "2", "--retrain-epochs", "3", "--frequency", "2",
        "--batch-size", "64", "--latency-runs", "20", "--calibration-samples", "32"]
VIEW = "workflowType=machine_learning"


def _pruning(store: Path, *args):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"}
    done = subprocess.run([sys.executable, "-m", "pruning", *args], cwd=store, env=env,
                          capture_output=True, text=True)
    print(f"$ pruning {' '.join(args)}\n{done.stdout}{done.stderr[-600:]}")
    done.check_returncode()


def fill(store: Path, dataset: list[str]) -> None:
    common = [*dataset, *TINY, "--experiment-name", "ui"]
    _pruning(store, "run", *common, "--register-model", "pruned-mlp")
    _pruning(store, "run", *common, "--final-sparsity", "0.8", "--register-model", "pruned-mlp")
    _pruning(store, "sweep", *common, "--methods", "weight,unit,global",
             "--sparsities", "0,0.5,0.8,0.9")
    _pruning(store, "tune", *common, "--n-trials", "3", "--study-name", "ui-study",
             "--search", "retrain_epochs=int:2:4", "--search", "frequency=int:1:3",
             "--register-model", "tuned-mlp")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shoot(store: Path, out: Path) -> list[Path]:
    import mlflow
    from playwright.sync_api import sync_playwright

    uri = f"sqlite:///{store / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("ui")
    runs = client.search_runs([experiment.experiment_id])
    by_role = {}
    for run in runs:
        by_role.setdefault(run.data.tags.get("pruning.role"), []).append(run)
    run = next(r for r in by_role["experiment"] if "mlflow.parentRunId" not in r.data.tags)
    study = by_role["study"][0]
    port = _port()
    server = subprocess.Popen(["mlflow", "server", "--backend-store-uri", uri, "--host",
                               "127.0.0.1", "--port", str(port)], cwd=store,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                time.sleep(1)
        e = experiment.experiment_id
        pages = {
            "runs_table": f"{base}/#/experiments/{e}/runs?{VIEW}",
            "run_overview": f"{base}/#/experiments/{e}/runs/{run.info.run_id}?{VIEW}",
            "run_pictures": f"{base}/#/experiments/{e}/runs/{run.info.run_id}/artifacts/"
                            f"plots/pixel_map.png?{VIEW}",
            "run_model_metrics": f"{base}/#/experiments/{e}/runs/{run.info.run_id}/"
                                 f"model-metrics?{VIEW}",
            "models_tab": f"{base}/#/experiments/{e}/models?{VIEW}",
            "study_parent": f"{base}/#/experiments/{e}/runs/{study.info.run_id}?{VIEW}",
            "study_plots": f"{base}/#/experiments/{e}/runs/{study.info.run_id}/artifacts/"
                           f"plots/trials.png?{VIEW}",
            "registered_model": f"{base}/#/models/tuned-mlp?{VIEW}",
        }
        out.mkdir(parents=True, exist_ok=True)
        shots = []
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            for name, url in pages.items():
                page.goto(url)
                page.wait_for_load_state("load")
                time.sleep(6)  # charts and images render after the data arrives
                if name == "runs_table":
                    _choose_columns(page, COLUMNS)
                if name == "models_tab":  # every column is on: drop some, to see the metrics
                    _choose_columns(page, ("Logged from", "Dataset", "Parameters"))
                _close_assistant(page)
                path = out / f"{name}.png"
                page.screenshot(path=str(path))
                shots.append(path)
                print(f"{path}: {url}")
            browser.close()
        return shots
    finally:
        server.terminate()
        server.wait(timeout=30)


# Shown in the runs table (the models tab shows every metric already).
COLUMNS = ("test_accuracy", "sparsity", "size_reduction", "tflite_int8_bytes_gzip",
           "int8_latency_us", "recipe")


def _close_assistant(page) -> None:
    """The UI's chat side panel takes a third of the page; close it if it is open."""
    close = page.locator("[data-component-id='mlflow.assistant.chat_panel.close']")
    if close.count():
        close.first.click()
        time.sleep(1)


def _choose_columns(page, columns) -> None:
    """Metric and param columns of the runs table: MLflow keeps the choice in the browser,
    so a fresh browser shows none until they are chosen under "Columns"."""
    page.get_by_role("button", name="Columns").click()
    time.sleep(1)
    menu = page.locator("[role=menu], [role=dialog], [role=listbox]").first
    for column in columns:
        menu.get_by_text(column, exact=True).first.click()
        time.sleep(0.3)
    page.keyboard.press("Escape")
    time.sleep(2)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="docs/ui", help="folder for the screenshots")
    parser.add_argument("--store", help="an existing folder to fill (default: a new one)")
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--data-dir", default="")
    args = parser.parse_args()
    store = Path(args.store or tempfile.mkdtemp(prefix="ui-store-")).resolve()
    store.mkdir(parents=True, exist_ok=True)
    dataset = ["--dataset", args.dataset, "--recipe", "none"]
    if args.data_dir:
        dataset += ["--data-dir", str(Path(args.data_dir).resolve())]
    if not (store / "mlflow.db").exists():
        fill(store, dataset)
    shoot(store, Path(args.out).resolve())


if __name__ == "__main__":
    main()
