"""Every check on a corpus of real training curves, against labels judged by eye.

The corpus (``tests/analysis/corpus/``) holds studies run for real on MNIST-1D and on a second,
synthetic trainer -- healthy controls and one study per pathology -- exported compactly (the
curves, not the models), and ``labels.toml`` says what their plots show. Regenerate it with
``python -m tests.analysis.corpus.generate`` (minutes of CPU; never run here).

Asserted: the healthy controls raise no warning at all, and every labelled pathology is found,
on the labelled trial, wherever its check reads that trial by design. Each check's precision and
recall over the corpus is printed (``pytest -s``) and written by
``python -m tests.analysis.corpus.score`` to ``SCORES.md``.
"""

from __future__ import annotations

import math
import tomllib

import pytest

from scitune.scoring import score
from scitune.storage import TrialState
from tests.analysis.corpus import DATA, LABELS, STUDIES, load_snapshot, read_study, study_files
from tests.analysis.corpus.score import Comparison, compare, load_labels, markdown, table

LABELLED = load_labels()
STEMS = [p.name.removesuffix(".json.gz") for p in study_files()]
HEALTHY = [s for s in STEMS if LABELLED.get(s, {}).get("healthy", False)]
PATHOLOGICAL = [s for s in STEMS if s not in HEALTHY]


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    return compare(LABELLED)


def test_corpus_is_complete_and_labelled() -> None:
    studies = sorted(p.stem for p in STUDIES.glob("*.toml"))
    assert studies == STEMS, "every study file has its export in data/ and nothing else is there"
    assert sorted(LABELLED) == studies, f"{LABELS.name} labels every study, and only those"
    assert len(HEALTHY) >= 2
    for stem in STEMS:
        data = read_study(DATA / f"{stem}.json.gz")
        complete = {str(t["number"]) for t in data["trials"] if t["state"] == "COMPLETE"}
        listed = set(LABELLED[stem].get("trials", {}))
        assert complete <= listed, f"{stem}: every COMPLETE trial is looked at and listed"


@pytest.mark.parametrize("stem", STEMS)
def test_export_round_trips_the_scores(stem: str) -> None:
    """The stored scores are what scitune scores the stored curves to: nothing was lost."""
    snapshot = load_snapshot(DATA / f"{stem}.json.gz")
    objective = snapshot.spec.objective
    for t in snapshot.trials:
        curve = snapshot.curve(t, objective.metric)
        if t.state is not TrialState.COMPLETE:
            assert t.value is None and t.reason
            continue
        assert curve is not None and len(curve) >= 5
        got = score(curve, goal=objective.goal, select=objective.select)
        assert got is not None and t.value is not None
        assert math.isclose(got.value, t.value) and got.step == t.value_step


@pytest.mark.parametrize("stem", HEALTHY)
def test_healthy_control_raises_no_warning(stem: str, comparison: Comparison) -> None:
    warnings = comparison.healthy[stem]
    assert not warnings, f"{stem} is a healthy control, but:\n" + "\n".join(warnings)


# Labels the checks still miss (issue 11, open): late noise at 3.0-4.9% against a 5% threshold,
# spikes of 2.0 and 2.9 noise sd against 3.5, one lucky evaluation below chance, a saturated
# synthetic control. Strict: a fix makes the test fail until the study leaves this list.
KNOWN_MISSES = {
    "mnist1d-spiky",
    "mnist1d-train-loss-rising",
    "synthetic-healthy",
    "synthetic-shuffled-labels",
}


@pytest.mark.parametrize(
    "stem",
    [
        pytest.param(s, marks=pytest.mark.xfail(strict=True, reason="known miss, issue 11"))
        if s in KNOWN_MISSES
        else s
        for s in STEMS
    ],
)
def test_labelled_pathologies_are_found(stem: str, comparison: Comparison) -> None:
    misses = [o for o in comparison.misses() if o.study == stem]
    lines = [f"{o.code} on {o.where}" + (f" ({o.evidence})" if o.evidence else "") for o in misses]
    assert not misses, f"{stem}: labelled but not found:\n" + "\n".join(lines)


def test_precision_and_recall_per_check(comparison: Comparison) -> None:
    """Not an assertion on the numbers: the table is the corpus's report (``pytest -s``)."""
    rows = table(comparison)
    assert {r.code for r in rows} >= {"curves.overfitting", "curves.no_learning", "score.spike"}
    assert all(r.tp + r.fn + r.fp + r.tn > 0 for r in rows)
    print("\n" + markdown(comparison))


def test_labels_parse_as_documented() -> None:
    with LABELS.open("rb") as f:
        raw = tomllib.load(f)
    assert set(raw) == {"study"}
    for stem, label in raw["study"].items():
        assert set(label) <= {"healthy", "expected", "unsure_study", "trials", "unsure"}, stem
