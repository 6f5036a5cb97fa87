"""What a study leaves on its parent run: best (or Pareto) trials, their configs, the
best trial's test accuracy, the registered champion, plots and a note."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import optuna

from pruning.figures import plots
from pruning.config import ExperimentConfig
from pruning.studies import champion, search_space

# objective -> pareto_metric -> (metric of the run, direction); accuracy always comes first
SECOND_OBJECTIVE = {"sparsity": ("sparsity", "maximize"),
                    "size": ("model_bytes_gzip", "minimize"),
                    "latency": ("int8_latency_us", "minimize")}


@dataclass(frozen=True)
class StudyResult:
    study_name: str
    storage: str
    parent_run_id: str
    n_trials: int
    best_values: list  # one list of values per best (single) or Pareto trial
    best_config: ExperimentConfig | None
    test_accuracy: float | None
    registered: str | None = None  # what --register-model did, in one sentence


def summarize(study, base, tune, parent, url, mlt, splits, dense,
              register_model=None) -> StudyResult:
    """Best (or Pareto) trials, their config, test accuracy of the best, plots and a note:
    on the parent; with `register_model`, the best in the registry (see champion)."""
    State = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    counts = {s: sum(t.state == s for t in trials) for s in State}
    metrics = {"n_trials": len(trials), "n_complete": counts[State.COMPLETE],
               "n_pruned": counts[State.PRUNED], "n_failed": counts[State.FAIL],
               "total_retrain_epochs": sum(t.user_attrs.get("retrain_epochs_run", 0)
                                           for t in trials)}
    tags, best_config, test_accuracy, best_values, registered = {}, None, None, [], None
    complete = [t for t in trials if t.state == State.COMPLETE and "config" in t.user_attrs]
    note = [f"**Optuna study `{tune.study_name}`** ({tune.objective}, {tune.sampler} sampler, "
            f"trial pruner {tune.trial_pruner}) around {base.model} on {base.dataset}: "
            f"{len(trials)} trials, {counts[State.COMPLETE]} complete, "
            f"{counts[State.PRUNED]} stopped early, {counts[State.FAIL]} failed.", "",
            f"Search space: `{tune.search}`; "
            + ("trial 0 is the starting config itself." if any(
                t.user_attrs.get(search_space.STARTING_POINT) for t in trials)
               else "no starting trial (the starting config lies outside the space)."), ""]
    if complete and tune.objective == "accuracy":
        best = study.best_trial
        best_values = [[best.value]]
        best_config = ExperimentConfig.from_dict(json.loads(best.user_attrs["config"]))
        metrics["best_value"] = best.value
        tags.update({"best_trial": best.number, "best_run_id": best.user_attrs["mlflow_run_id"],
                     **{f"best.{k}": v for k, v in best.params.items()}})
        test_accuracy = _best_test_accuracy(best, splits, parent, mlt)
        metrics["best_test_accuracy"] = test_accuracy
        mlt.log_text(parent, best_config.to_toml(), "best_config.toml")
        mlt.log_text(parent, json.dumps({"value": best.value, "params": best.params,
                                         "run_id": best.user_attrs["mlflow_run_id"]},
                                        indent=2), "best_params.json")
        note += [f"- best: trial {best.number}, validation accuracy {best.value:.4f}, test "
                 f"accuracy {test_accuracy:.4f}, sparsity {best.user_attrs['sparsity']:.3f}",
                 f"- its values: {json.dumps(best.params, default=str)}",
                 f"- reproduce: `pruning run --config runs:/{parent}/best_config.toml`"]
        if register_model:
            crowned = champion.crown(best, register_model, dense, splits, parent, mlt,
                                     "\n".join(note))
            registered = crowned.why
            tags["registered_model"] = crowned.label
            note.append(f"- {crowned.why}")
    elif complete:
        front = study.best_trials
        best_values = [t.values for t in front]
        mlt.log_text(parent, pareto_table(front, tune), "pareto_front.md")
        for t in front:
            mlt.log_text(parent, ExperimentConfig.from_dict(
                json.loads(t.user_attrs["config"])).to_toml(), f"pareto/trial_{t.number}.toml")
        tags["pareto_trials"] = ",".join(str(t.number) for t in front)
        note += ["Pareto front (validation accuracy against "
                 f"{SECOND_OBJECTIVE[tune.pareto_metric][0]}):", "", pareto_table(front, tune)]
    else:
        note.append("No trial completed: see the failed trials' `error` tags.")
    mlt.log_results(parent, metrics, tags, step=len(trials))
    mlt.set_note(parent, "\n".join(note) + "\n")
    figures = plots.study_figures(study, tune.objective == "pareto",
                                  ("validation accuracy", SECOND_OBJECTIVE[tune.pareto_metric][0]))
    mlt.log_figures(parent, {f"plots/{name}.png": fig for name, fig in figures.items()},
                    then=plots.close_one)
    return StudyResult(tune.study_name, url, parent, len(trials), best_values, best_config,
                       test_accuracy, registered)


def _best_test_accuracy(best, splits, parent, mlt) -> float:
    """The test set, once, for the best trial only (again only if the best changed).

    Run id and accuracy share one tag: workers of one study summarize the same parent,
    and two tags written one after the other let a worker read the id without its accuracy."""
    run_id = best.user_attrs["mlflow_run_id"]
    cached = json.loads(mlt.run_tags(parent).get("best_test", "{}"))
    if cached.get("run_id") == run_id:
        return float(cached["accuracy"])
    model = mlt.load_pyfunc(best.user_attrs["mlflow_model_id"])
    probabilities = np.asarray(model.predict(splits.as_given(splits.x_test)))
    accuracy = float(np.mean(probabilities.argmax(-1) == splits.y_test))
    mlt.set_tags(parent, {"best_test": json.dumps({"run_id": run_id, "accuracy": accuracy})})
    return accuracy


def pareto_table(front, tune) -> str:
    second = SECOND_OBJECTIVE[tune.pareto_metric][0]
    names = sorted({k for t in front for k in t.params})
    rows = [f"| trial | val accuracy | {second} | " + " | ".join(names) + " | run |",
            "|" + "---|" * (len(names) + 4)]
    for t in sorted(front, key=lambda t: t.values[1]):
        rows.append(f"| {t.number} | {t.values[0]:.4f} | {t.values[1]:.4g} | "
                    + " | ".join(f"{t.params.get(n, '')}" for n in names)
                    + f" | {t.user_attrs.get('mlflow_run_id', '')} |")
    return "\n".join(rows) + "\n"
