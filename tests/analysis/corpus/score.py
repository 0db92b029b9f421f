"""Each check's precision and recall on the corpus, against the labels judged from the plots.

``python -m tests.analysis.corpus.score`` prints the table and rewrites ``SCORES.md``;
``tests/analysis/test_corpus.py`` asserts on the same comparison.

What is compared. A *trial code* (``curves.*``, ``score.spike``) is judged per trial, but only
on the trials its check reads by design: the curve checks (overfitting, late noise, still
improving, saturated, training loss rising) on the checked trials (the best few and the best of
each scientific value: ``Analysis.curve_checks``); ``curves.diverged`` and
``curves.no_learning`` on every COMPLETE trial; ``score.spike`` on every ranked trial (a
checked one is reported as ``score.spike``, any other in ``score.spike_others``: both count as
``score.spike`` on their trial). A label on a trial outside that scope is listed as *out of
scope*, not counted. A *study code* (``steps.*``, ``infeasible.*``, ``boundary.near_edge``) is
judged once per study.

The labels are a closed world: on a trial (or study) a judged code that the labels neither
expect nor mark unsure is one the curves do not show, so a finding of it is a false alarm.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scitune.analysis import Analysis, Finding, StudySnapshot, analyze
from scitune.storage import TrialState
from tests.analysis.corpus import DATA, HERE, LABELS, load_snapshot, study_files

__all__ = [
    "CURVE_CODES",
    "LEARNING_CODES",
    "STUDY_CODES",
    "TRIAL_CODES",
    "Comparison",
    "Outcome",
    "compare",
    "found_codes",
    "load_labels",
    "markdown",
    "table",
    "write_scores",
]

CURVE_CODES = (
    "curves.overfitting",
    "curves.late_noise",
    "curves.still_improving",
    "curves.saturated",
    "curves.train_loss_rising",
)
LEARNING_CODES = ("curves.diverged", "curves.no_learning")
TRIAL_CODES = (*CURVE_CODES, *LEARNING_CODES, "score.spike")
STUDY_CODES = (
    "steps.too_many",
    "steps.too_few",
    "infeasible.fraction",
    "infeasible.stability_edge",
    "boundary.near_edge",
)
SCORES = HERE / "SCORES.md"
WARNING = ("warning", "critical")


@dataclass(frozen=True)
class Outcome:
    """One judged (study, trial, code): what the labels say and what the analysis found.

    ``trial`` is ``None`` for a study code; ``label`` is True (expected) or False (absent).
    """

    study: str
    trial: int | None
    code: str
    label: bool
    found: bool
    evidence: str = ""

    @property
    def where(self) -> str:
        return self.study if self.trial is None else f"{self.study} #{self.trial}"


@dataclass
class Comparison:
    """Every judged outcome over the corpus, and what could not be judged."""

    outcomes: list[Outcome] = field(default_factory=list)
    out_of_scope: list[tuple[str, int, str, str]] = field(default_factory=list)
    healthy: dict[str, list[str]] = field(default_factory=dict)  # study -> warnings raised
    analyses: dict[str, Analysis] = field(default_factory=dict)

    def __repr__(self) -> str:  # pytest shows the fixture: keep it to one line
        return (
            f"Comparison({len(self.analyses)} studies, {len(self.outcomes)} outcomes, "
            f"{len(self.misses())} missed, {len(self.false_alarms())} false alarms)"
        )

    def misses(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.label and not o.found]

    def false_alarms(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.found and not o.label]


def load_labels(path: Path = LABELS) -> dict[str, Any]:
    with path.open("rb") as f:
        studies: dict[str, Any] = tomllib.load(f)["study"]
    return studies


def found_codes(analysis: Analysis) -> tuple[dict[tuple[str, int], str], dict[str, str]]:
    """The trial codes found, by (code, trial number), and the study codes, with a short
    evidence line each."""
    per_trial: dict[tuple[str, int], str] = {}
    per_study: dict[str, str] = {}
    for f in analysis.findings:
        if f.code == "curves.skipped":
            continue
        code = "score.spike" if f.code == "score.spike_others" else f.code
        if code in TRIAL_CODES:
            for item in _items(f):
                if "trial" in item:
                    per_trial[(code, int(item["trial"]))] = f"{f.severity}: {_brief(item)}"
        elif f.code in STUDY_CODES:
            per_study[f.code] = f"{f.severity}: {f.message[:160]}"
    return per_trial, per_study


def _items(finding: Finding) -> list[Mapping[str, Any]]:
    """The per-trial entries of a finding's evidence: its ``trials`` list, or the evidence."""
    trials = finding.evidence.get("trials")
    entries = trials if isinstance(trials, list) else [finding.evidence]
    return [e for e in entries if isinstance(e, Mapping)]


def skipped_checks(analysis: Analysis) -> dict[tuple[str, int], str]:
    """Why a check could not run on a trial, by (code, trial number), from ``curves.skipped``."""
    out: dict[tuple[str, int], str] = {}
    for f in analysis.findings:
        if f.code == "curves.skipped":
            for item in f.evidence.get("skipped", ()):
                code = str(item["check"]).split(" ")[0]  # "curves.diverged (training loss)"
                out.setdefault((code, int(item["trial"])), f"skipped: {item['reason']}")
    return out


def _brief(item: Mapping[str, Any]) -> str:
    keep = {k: v for k, v in item.items() if isinstance(v, int | float | str) and k != "trial"}
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in keep.items()
    )


def scope(snapshot: StudySnapshot, analysis: Analysis, code: str) -> set[int]:
    """The trials ``code``'s check reads by design (see the module docstring)."""
    if code in CURVE_CODES:
        return {c.trial for c in analysis.curve_checks}
    if code in LEARNING_CODES:
        return {t.number for t in snapshot.design().trials if t.state is TrialState.COMPLETE}
    return {t.number for t in snapshot.design().ranked()}


def compare(
    labels: Mapping[str, Any] | None = None, files: Iterable[Path] | None = None
) -> Comparison:
    """Analyze every corpus study and set what it found against the labels."""
    labels = load_labels() if labels is None else labels
    out = Comparison()
    for path in study_files() if files is None else files:
        stem = path.name.removesuffix(".json.gz")
        if stem not in labels:
            raise KeyError(f"{path.name}: no [study.{stem}] in {LABELS.name}")
        label = labels[stem]
        snapshot = load_snapshot(path)
        analysis = analyze(snapshot)
        out.analyses[stem] = analysis
        per_trial, per_study = found_codes(analysis)
        skipped = skipped_checks(analysis)
        if analysis.spikes is not None:  # what the spike check read, where it did not fire
            for c in analysis.spikes.checked:
                if not c.spike and c.noise is not None:
                    gap = min((v for _, v in c.neighbours), default=c.raw_best) - c.raw_best
                    skipped[("score.spike", c.trial)] = (
                        f"read: {c.raw_best:.4g} at step {c.raw_step}, neighbours "
                        f"{[round(v, 4) for _, v in c.neighbours]}, {gap:.4g} clear = "
                        f"{gap / c.noise:.2f} x noise sd {c.noise:.4g}"
                    )
        trials = {int(k): set(v) for k, v in label.get("trials", {}).items()}
        unsure = {int(k): set(v) for k, v in label.get("unsure", {}).items()}
        if label.get("healthy", False):
            out.healthy[stem] = [
                f"{f.code} ({f.severity}): {f.message[:240]}"
                for f in analysis.findings
                if f.severity in WARNING
                and not _only_unsure(f, unsure)
                and f.code not in label.get("unsure_study", ())
            ]
        for codes in (*trials.values(), *unsure.values()):
            unknown = codes - set(TRIAL_CODES)
            if unknown:
                raise ValueError(f"{stem}: unknown trial codes {sorted(unknown)}")
        for code in TRIAL_CODES:
            judged = scope(snapshot, analysis, code)
            for n, codes in trials.items():
                if code in codes and n not in judged:
                    out.out_of_scope.append((stem, n, code, _why_out(code)))
            for n in sorted(judged):
                if code in unsure.get(n, ()):
                    continue
                expected = code in trials.get(n, ())
                hit = per_trial.get((code, n))
                why = hit or skipped.get((code, n), "")
                out.outcomes.append(Outcome(stem, n, code, expected, hit is not None, why))
        expected_study = set(label.get("expected", ()))
        unsure_study = set(label.get("unsure_study", ()))
        unknown = (expected_study | unsure_study) - set(STUDY_CODES)
        if unknown:
            raise ValueError(f"{stem}: unknown study codes {sorted(unknown)}")
        for code in STUDY_CODES:
            if code in unsure_study:
                continue
            hit = per_study.get(code)
            out.outcomes.append(
                Outcome(stem, None, code, code in expected_study, hit is not None, hit or "")
            )
    return out


def _only_unsure(finding: Finding, unsure: Mapping[int, set[str]]) -> bool:
    """Whether ``finding`` names only trials on which its code is labelled unsure."""
    code = "score.spike" if finding.code == "score.spike_others" else finding.code
    if code not in TRIAL_CODES:
        return False
    numbers = [int(i["trial"]) for i in _items(finding) if "trial" in i]
    return bool(numbers) and all(code in unsure.get(n, ()) for n in numbers)


def _why_out(code: str) -> str:
    if code in CURVE_CODES:
        return "not among the checked trials (best few, best per scientific value)"
    if code in LEARNING_CODES:
        return "not COMPLETE"
    return "not ranked"


@dataclass(frozen=True)
class Row:
    code: str
    tp: int
    fn: int
    fp: int
    tn: int

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


def table(comparison: Comparison) -> list[Row]:
    rows = []
    for code in (*TRIAL_CODES, *STUDY_CODES):
        mine = [o for o in comparison.outcomes if o.code == code]
        rows.append(
            Row(
                code,
                tp=sum(o.label and o.found for o in mine),
                fn=sum(o.label and not o.found for o in mine),
                fp=sum(o.found and not o.label for o in mine),
                tn=sum(not o.label and not o.found for o in mine),
            )
        )
    return rows


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def markdown(comparison: Comparison) -> str:
    """The table, the misses, the false alarms and the out-of-scope labels, as markdown."""
    studies = len(comparison.analyses)
    trials = sum(sum(a.counts.values()) for a in comparison.analyses.values())
    lines = [
        "# Checks against the labelled corpus",
        "",
        f"{studies} studies, {trials} trials of real training (`tests/analysis/corpus/`), "
        "labelled by eye from their plots (`labels.toml`). Trial codes are counted per trial "
        "the check reads by design, study codes per study; `score.spike_others` counts as "
        "`score.spike`. Written by `python -m tests.analysis.corpus.score`.",
        "",
        "| code | labelled | found | TP | FN | FP | TN | precision | recall |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in table(comparison):
        lines.append(
            f"| `{r.code}` | {r.tp + r.fn} | {r.tp + r.fp} | {r.tp} | {r.fn} | {r.fp} | {r.tn} "
            f"| {_pct(r.precision)} | {_pct(r.recall)} |"
        )
    lines += ["", "## Healthy controls (no warning allowed)", ""]
    for stem, warnings in sorted(comparison.healthy.items()):
        lines.append(f"- `{stem}`: " + ("no warning" if not warnings else "; ".join(warnings)))
    lines += ["", "## Missed (labelled, not found)", ""]
    lines += [
        f"- `{o.code}` on {o.where}" + (f" ({o.evidence})" if o.evidence else "")
        for o in comparison.misses()
    ] or ["- none"]
    lines += ["", "## False alarms (found, labelled absent)", ""]
    lines += [f"- `{o.code}` on {o.where}: {o.evidence}" for o in comparison.false_alarms()] or [
        "- none"
    ]
    lines += ["", "## Labels outside a check's scope (not counted)", ""]
    lines += [f"- `{c}` on {s} #{n}: {why}" for s, n, c, why in comparison.out_of_scope] or [
        "- none"
    ]
    return "\n".join(lines) + "\n"


def write_scores(path: Path = SCORES) -> str:
    """Compare the whole corpus, write ``SCORES.md``; returns the markdown."""
    text = markdown(compare())
    path.write_text(text)
    return text


def main() -> int:
    if not list(DATA.glob("*.json.gz")):
        print(f"no corpus in {DATA}: run python -m tests.analysis.corpus.generate", file=sys.stderr)
        return 1
    print(write_scores())
    return 0


if __name__ == "__main__":
    sys.exit(main())
