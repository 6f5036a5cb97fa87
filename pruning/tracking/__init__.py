"""The tracking layer: the only code that imports mlflow, split by concept.

- `store`: where runs go (fail fast on a bad URI), the UI's training view, links.
- `runs`: experiment runs, per-epoch logging, children.
- `background`: logging off the critical path, flushed before any run ends.
- `reports`: finished runs read back, the report run.
- `cache`: the dense-model cache and its claims (pre-training runs).
- `models`: the shipped model (loads anywhere, see `serving`), its metrics, the registry.
- `champion`: the registry alias every registration contends for, on validation accuracy.
- `sources`: a model to start from, fetched by its MLflow URI.
- `studies`: one parent run per Optuna study, shared by its workers.
- `masks_file`: the file a mask snapshot is logged as.
- `heartbeat`: runs that beat while their process lives; dead ones found and closed.
- `outage`: a tracking server that stops answering: retries said, then one line.

Nothing here imports TensorFlow at import time: `pruning report` reads runs without it.
"""
from pruning.tracking.cache import find_pretrained, pretrain_run
from pruning.tracking.champion import contend
from pruning.tracking.heartbeat import fail_stale, stale_runs
from pruning.tracking.models import (CHAMPION, alias_tags, load_pyfunc, log_model,
                                     log_model_metrics,
                                     model_id_of, model_metrics, register, set_model_note,
                                     tag_model)
from pruning.tracking.outage import ServerUnreachable
from pruning.tracking.reports import experiment_id, finished_runs, log_report
from pruning.tracking.runs import (NOTE, ROLE, RunObserver, child_run, download,
                                   experiment_run, fail_run, log_bytes, log_dataset,
                                   log_figures, log_history, log_results, log_text, run_tags,
                                   set_note, set_tags)
from pruning.tracking.sources import download_keras_model, log_model_input
from pruning.tracking.store import (check_store, latest_experiment, open_meanwhile, retry, run_link,
                                    use_tracking_uri, where_to_look)
from pruning.tracking.studies import (default_optuna_storage, mark_lost, run_is_stale,
                                      study_run, study_worker)

__all__ = ["CHAMPION", "alias_tags", "contend", "NOTE", "ROLE", "RunObserver", "check_store", "use_tracking_uri", "child_run", "default_optuna_storage", "download",
           "experiment_run", "fail_run", "find_pretrained", "finished_runs", "load_pyfunc",
           "log_dataset", "log_bytes", "log_figures", "log_history", "log_model",
           "log_model_metrics", "log_report", "log_results", "log_text", "mark_lost",
           "model_id_of", "model_metrics", "open_meanwhile", "pretrain_run", "register", "retry", "run_link", "run_tags",
           "latest_experiment", "set_model_note", "set_note", "set_tags", "study_run", "study_worker", "where_to_look", "ServerUnreachable",
           "fail_stale", "stale_runs", "run_is_stale", "experiment_id", "download_keras_model",
           "log_model_input", "tag_model"]
