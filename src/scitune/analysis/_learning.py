"""Did each completed trial learn at all? Divergence and chance level (PLAYBOOK_SPEC §5 item 20).

The playbook counts a run that diverges or ends with an "uncharacteristically high loss" as
infeasible. The runner marks a trial INFEASIBLE when its objective turns NaN; a trial whose
training loss explodes to 200 while its dev error sits at chance still completes with a score
and is ranked. These checks read every COMPLETE trial (not only the best few: a failure that
passes as a result can sit anywhere in the ranking); INFEASIBLE and FAILED trials are already
not results and are reported by ``infeasible.*`` / ``failed.trials``.

- ``curves.diverged``: a non-finite value in any logged curve, or a training loss that ends
  (median of its last ``curve_smoothing`` of training) more than ``diverged_loss_rise`` times
  |its first logged value| above that value.
- ``curves.no_learning``: every evaluation of the objective is within ``chance_tolerance`` (a
  share of |chance|) of the chance level or worse. The chance level is ``[objective] chance``
  when the study declares it; otherwise the trial's own first evaluation, and only when that
  comes within ``chance_first_eval`` of training (ours; by default only at step 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from scitune.analysis._config import AnalysisConfig
from scitune.analysis._results import Finding, Severity
from scitune.analysis._snapshot import StudySnapshot
from scitune.storage import Curve, TrialState

__all__ = ["LEARNING_CODES", "Learning", "learning_checks", "trial_list"]

LEARNING_CODES = ("curves.diverged", "curves.no_learning")
_RAN = ("curves.diverged (non-finite)", "curves.diverged (training loss)", "curves.no_learning")
LISTED = 10
"""Trials named in a message (the evidence lists all of them)."""
_SECTION = "§5 Extracting insight; §9 Stability"


@dataclass(frozen=True)
class Learning:
    """What the checks found: per trial, the codes that fired; the findings; what could not run.

    ``skipped`` holds ``{"check", "trial", "reason", "enable"}`` items (gathered into one
    ``curves.skipped`` finding with the curve checks'); ``ran`` maps each check (the two parts
    of ``curves.diverged`` apart) to the trials it could judge.
    """

    hits: Mapping[int, tuple[str, ...]]
    findings: tuple[Finding, ...]
    skipped: tuple[dict[str, Any], ...]
    ran: Mapping[str, tuple[int, ...]]


def learning_checks(snap: StudySnapshot, cfg: AnalysisConfig) -> Learning:
    """``curves.diverged`` and ``curves.no_learning`` on every COMPLETE trial."""
    completed = [t for t in snap.trials if t.state is TrialState.COMPLETE]
    metric = snap.spec.objective.metric
    train_name = snap.train_metric(cfg.train_metric)
    max_steps = snap.spec.budget.max_train_steps
    declared = snap.spec.objective.chance
    hits: dict[int, list[str]] = {}
    items: dict[str, list[dict[str, Any]]] = {code: [] for code in LEARNING_CODES}
    ran: dict[str, list[int]] = {code: [] for code in _RAN}
    skipped: list[dict[str, Any]] = []
    for t in completed:
        curves = snap.curves.get(t.id, {})
        ranked = snap.is_ranked(t)
        bad = _non_finite(curves)
        loss, why = _loss_rose(curves.get(train_name) if train_name else None, max_steps, cfg)
        ran["curves.diverged (non-finite)"].append(t.number)
        if why is None:
            ran["curves.diverged (training loss)"].append(t.number)
        else:
            enable = (
                f"log the training loss ({train_name}) from early in training"
                if train_name
                else "log the training loss as train_loss, or name the metric that holds it "
                "in the train_metric analysis setting"
            )
            skipped.append(_skip("curves.diverged (training loss)", t.number, why, enable))
        if bad or loss:
            hits.setdefault(t.number, []).append("curves.diverged")
            entry: dict[str, Any] = {"trial": t.number, "ranked": ranked}
            if bad:
                entry["bad"] = bad
            if loss:
                entry["loss"] = {"metric": train_name, **loss}
            items["curves.diverged"].append(entry)
        chance, why = _no_learning(curves.get(metric), snap.sign, declared, max_steps, cfg)
        if why is not None:
            skipped.append(_skip("curves.no_learning", t.number, why, _enable_chance(metric)))
            continue
        ran["curves.no_learning"].append(t.number)
        if chance is not None:
            hits.setdefault(t.number, []).append("curves.no_learning")
            items["curves.no_learning"].append({"trial": t.number, "ranked": ranked, **chance})
    base: dict[str, Any] = {
        "metric": metric,
        "train_metric": train_name,
        "completed": len(completed),
        "max_train_steps": max_steps,
        "scope": "every COMPLETE trial; INFEASIBLE and FAILED ones are reported by infeasible.*",
    }
    findings = []
    if items["curves.diverged"]:
        findings.append(_diverged(items["curves.diverged"], base, cfg))
    if items["curves.no_learning"]:
        findings.append(_not_learning(items["curves.no_learning"], base, declared, cfg, snap.sign))
    return Learning(
        hits={n: tuple(c) for n, c in hits.items()},
        findings=tuple(findings),
        skipped=tuple(skipped),
        ran={code: tuple(v) for code, v in ran.items()},
    )


def trial_list(numbers: list[int]) -> str:
    """``#1, #4, #7`` (the first :data:`LISTED`, then how many more)."""
    shown = ", ".join(f"#{n}" for n in numbers[:LISTED])
    more = len(numbers) - LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def _skip(check: str, trial: int, reason: str, enable: str) -> dict[str, Any]:
    return {"check": check, "trial": trial, "reason": reason, "enable": enable}


def _enable_chance(metric: str) -> str:
    return (
        "declare the chance level in the study file ([objective] chance = ..., e.g. 0.9 for "
        f"the error rate of 10 balanced classes), or evaluate {metric} at step 0"
    )


def _non_finite(curves: Mapping[str, Curve]) -> list[dict[str, Any]]:
    bad = []
    for name, c in curves.items():
        mask = ~np.isfinite(c.values)
        if mask.any():
            i, count = int(np.argmax(mask)), int(mask.sum())
            value, step = str(c.values[i]), int(c.steps[i])
            bad.append(dict(metric=name, first_step=step, first_value=value, count=count))
    return bad


def _loss_rose(
    curve: Curve | None, max_steps: int, cfg: AnalysisConfig
) -> tuple[dict[str, Any] | None, str | None]:
    """The evidence when the training loss ends far above its first value; or why not judged."""
    if curve is None:
        return None, "no training-loss curve"
    ok = np.isfinite(curve.values)
    if int(ok.sum()) < 2:
        return None, f"{int(ok.sum())} finite training-loss points, needs 2"
    steps, y = curve.steps[ok], curve.values[ok]
    first = float(y[0])
    tail = steps >= steps[-1] - cfg.curve_smoothing * max_steps
    end = float(np.median(y[tail]))
    if end - first <= cfg.diverged_loss_rise * abs(first):
        return None, None
    return {
        "first_step": int(steps[0]),
        "first_value": first,
        "end_value": end,
        "end_points": int(tail.sum()),
        "end_from_step": int(steps[tail][0]),
        "ratio": end / first if first else None,
    }, None


def _no_learning(
    curve: Curve | None,
    sign: float,
    declared: float | None,
    max_steps: int,
    cfg: AnalysisConfig,
) -> tuple[dict[str, Any] | None, str | None]:
    """The evidence when the objective never left its chance level; or why not judged."""
    if curve is None:
        return None, "no curve of the objective"
    ok = np.isfinite(curve.values)
    steps, y = curve.steps[ok], curve.values[ok]
    if declared is not None:
        if y.size == 0:
            return None, "no finite evaluation of the objective"
        chance, source = float(declared), "declared ([objective] chance)"
    else:
        if y.size < 2:
            return None, (
                f"{y.size} finite evaluation{'s' if y.size != 1 else ''} of the objective and no "
                "declared chance level (estimating it from the first needs a second)"
            )
        if steps[0] > cfg.chance_first_eval * max_steps:
            where = (
                "an evaluation at step 0 (the untrained model)"
                if cfg.chance_first_eval == 0
                else f"an evaluation in the first {cfg.chance_first_eval:.0%} of training"
            )
            return None, (
                f"no declared chance level, and the first evaluation comes at step "
                f"{int(steps[0])}, {steps[0] / max_steps:.0%} of training: only {where} "
                "stands for chance (ours)"
            )
        chance, source = float(y[0]), f"estimated from its first evaluation (step {steps[0]}), ours"
    margin = cfg.chance_tolerance * abs(chance)
    gains = sign * (chance - y)  # > 0: better than chance
    i = int(np.argmax(gains))
    if float(gains[i]) > margin:
        return None, None
    return {
        "chance": chance,
        "chance_source": source,
        "bound": chance - sign * margin,
        "best": float(y[i]),
        "best_step": int(steps[i]),
        "evaluations": int(y.size),
    }, None


def _diverged(items: list[dict[str, Any]], base: dict[str, Any], cfg: AnalysisConfig) -> Finding:
    ranked = [e["trial"] for e in items if e["ranked"]]
    listed = "; ".join(_diverged_item(e) for e in items[:LISTED])
    more = f"; and {len(items) - LISTED} more" if len(items) > LISTED else ""
    message = (
        f"{len(items)} of {base['completed']} completed trials diverged, "
        f"{_ranked_words(ranked)}: {listed}{more}. Diverged: a non-finite value in a curve, or "
        f"a training loss ending more than {cfg.diverged_loss_rise:g} x |its first value| above "
        "it (ours)."
    )
    action = (
        "Read these scores as failures, not as results of their configurations: add warmup or "
        "gradient clipping, or lower the learning rate (§9), and narrow the search away from "
        "them in the next study."
    )
    evidence = {
        **base,
        "diverged_loss_rise": cfg.diverged_loss_rise,
        "curve_smoothing": cfg.curve_smoothing,
        "ranked": ranked,
        "defaults": "ours",
        "trials": items,
    }
    subjects = sorted(
        {b["metric"] for e in items for b in e.get("bad", ())}
        | {e["loss"]["metric"] for e in items if "loss" in e}
    )
    severity: Severity = "warning" if ranked else "info"
    return Finding(
        "curves.diverged", severity, message, action, _SECTION, evidence, ", ".join(subjects)
    )


def _diverged_item(e: dict[str, Any]) -> str:
    parts = [
        f"{b['metric']} {b['first_value']} at step {b['first_step']} ({b['count']} non-finite)"
        for b in e.get("bad", ())
    ]
    if "loss" in e:
        loss = e["loss"]
        parts.append(
            f"{loss['metric']} ends at {loss['end_value']:.4g} (median from step "
            f"{loss['end_from_step']}) against {loss['first_value']:.4g} at step "
            f"{loss['first_step']}"
        )
    return f"#{e['trial']} ({'; '.join(parts)})"


def _not_learning(
    items: list[dict[str, Any]],
    base: dict[str, Any],
    declared: float | None,
    cfg: AnalysisConfig,
    sign: float,
) -> Finding:
    ranked = [e["trial"] for e in items if e["ranked"]]
    worse = "above" if sign > 0 else "below"
    listed = "; ".join(
        f"#{e['trial']} (best {e['best']:.4g} at step {e['best_step']}, chance {e['chance']:.4g}"
        + (f", {e['chance_source']}" if declared is None else "")
        + ")"
        for e in items[:LISTED]
    )
    more = f"; and {len(items) - LISTED} more" if len(items) > LISTED else ""
    where = (
        f"chance = {declared:g} as declared in [objective]"
        if declared is not None
        else "chance estimated from each trial's first evaluation (ours)"
    )
    message = (
        f"{base['metric']} never got better than chance by more than "
        f"{cfg.chance_tolerance:.0%} of it (every evaluation {worse} the bound) in "
        f"{len(items)} of {base['completed']} completed trials, {_ranked_words(ranked)}: "
        f"{listed}{more}; {where}."
    )
    action = (
        "These configurations did not train at all: read their scores as failures, not "
        "results. Look at their learning rates (too small to move, or so large that the model "
        "collapsed) and initialization, and narrow the search away from them."
    )
    evidence = {
        **base,
        "chance": declared,
        "chance_tolerance": cfg.chance_tolerance,
        "chance_first_eval": cfg.chance_first_eval,
        "ranked": ranked,
        "defaults": "ours",
        "trials": items,
    }
    severity: Severity = "warning" if ranked else "info"
    return Finding(
        "curves.no_learning", severity, message, action, _SECTION, evidence, base["metric"]
    )


def _ranked_words(ranked: list[int]) -> str:
    if not ranked:
        return "none of them ranked"
    return f"{len(ranked)} of them ranked ({trial_list(ranked)}), whose scores are not results"
