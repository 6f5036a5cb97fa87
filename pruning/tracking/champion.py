"""The registry's `champion` alias, one rule for every way a model is registered (a run,
each seed of a run over seeds, a study's best trial): every model gets its version, and
the alias moves to it only when it beats the current champion on validation accuracy
measured on the same dataset. Validation, never test: the champion is a choice, and a
choice made on the test set would spend the figure it is later judged by."""
from __future__ import annotations

from dataclasses import dataclass

from pruning.tracking.models import CHAMPION, alias_tags, register

OBJECTIVE = "final_val_accuracy"  # what champions are compared on (and studies maximise)
# The dataset's bytes without the split: seeds split one dataset differently, and their
# validation accuracies estimate the same thing, so a seed may beat another seed's model.
DATASET_TAG = "dataset_digest"


@dataclass(frozen=True)
class Crowning:
    name: str
    version: str
    moved: bool
    why: str  # one sentence: what was registered, where the alias is and why

    @property
    def label(self) -> str:
        """NAME/VERSION, with @champion when it holds the alias."""
        return f"{self.name}/{self.version}" + (f"@{CHAMPION}" if self.moved else "")


def decide(current: dict | None, value: float, dataset: str) -> tuple[bool, str]:
    """Whether `champion` moves to a new model of validation `value` on dataset digest
    `dataset`; `current`: the tags of the version that holds the alias now (None: no
    champion)."""
    if current is None:
        return True, "no champion yet"
    if current.get(DATASET_TAG) != dataset:
        return False, (f"the champion was measured on other data (digest "
                       f"{current.get(DATASET_TAG, 'unknown')}, this model {dataset}): "
                       "the two are not comparable")
    theirs = float(current.get(OBJECTIVE, "nan"))
    if value > theirs:
        return True, f"validation accuracy {value:.4f} beats the champion's {theirs:.4f}"
    return False, f"validation accuracy {value:.4f} does not beat the champion's {theirs:.4f}"


def contend(model_id: str, name: str, metrics: dict[str, float], description: str,
            dataset: str, tags: dict | None = None) -> Crowning:
    """Register `model_id` under `name` and move `champion` to it if it earns it
    (`metrics` holds its OBJECTIVE)."""
    value = metrics[OBJECTIVE]
    current = alias_tags(name, CHAMPION)
    moved, why = decide(current, value, dataset)
    version = register(model_id, name, metrics, description,
                       alias=CHAMPION if moved else None,
                       tags={**(tags or {}), OBJECTIVE: f"{value:.6g}", DATASET_TAG: dataset})
    where = (f"alias `{CHAMPION}` moved to it" if moved else
             f"alias `{CHAMPION}` stays on version {current.get('version', '?')}")
    return Crowning(name, version, moved,
                    f"registered as `{name}` version {version}; {where}: {why}")
