"""A hand-made study and analysis that look like a real one: what plots and report tests draw.

No analysis code runs here: the results are built by hand, the way the checks would fill them,
so the renderers are tested against the shared records alone.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from scitune.analysis._results import (
    Analysis,
    AxisPoint,
    AxisResult,
    BestOfK,
    BestStepSummary,
    CurveCheck,
    Finding,
    GradNormSummary,
    IsolationGroup,
    IsolationResult,
    to_jsonable,
)
from scitune.analysis._snapshot import StudySnapshot
from scitune.evidence import ConfigVariance, StudyVariance, compare_samples
from scitune.scoring import score
from scitune.space import ChoiceDomain, FloatDomain, Value
from scitune.spec import StudySpec
from scitune.storage import Curve, DecisionRecord, FrozenTrial, RoundRecord, TrialState

XSS = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
CLOSE = "</script><script>alert(3)</script><!--"
QUOTES = "\"'><svg onload=alert(4)>"
HOSTILE = (XSS, IMG, CLOSE, QUOTES)


@dataclass(frozen=True)
class Synthetic:
    analysis: Analysis
    snapshot: StudySnapshot
    metric: str
    train_metric: str


def make_study(
    *,
    per_value: int = 30,
    hostile: bool = False,
    seed: int = 0,
    steps: int = 2000,
    reruns: int = 0,
) -> Synthetic:
    """A per-value study of dropout (3 values) with lr, wd and a conditional beta1.

    ``reruns`` > 0 retrains the best trial of each dropout value that many times (as
    ``scitune reseed`` would) and fills ``config_variance`` and ``study_variance``.
    """
    rng = np.random.default_rng(seed)
    metric = f"dev_error{IMG}" if hostile else "dev_error"
    train_metric = "train_loss"
    activations: list[Value] = ["relu", IMG, CLOSE] if hostile else ["relu", "gelu"]
    spec = StudySpec.from_dict(
        {
            "name": "cnn-dropout",
            "goal": (
                f"Does dropout help? {XSS} {QUOTES}"
                if hostile
                else "Does dropout help the CNN once learning rate and weight decay are tuned?"
            ),
            "entrypoint": {"python": "examples.mnist1d.train:main"},
            "objective": {"metric": metric, "goal": "minimize"},
            "constraints": [{"metric": "params_millions", "max": 1.0}],
            "budget": {"trials": per_value, "max_train_steps": steps, "seed": 0},
            "scientific": {"dropout": {"values": [0.0, 0.1, 0.3]}},
            "nuisance": {
                "learning_rate": {"low": 1e-4, "high": 0.3, "scale": "log"},
                "weight_decay": {"low": 1e-6, "high": 1e-2, "scale": "log"},
                "activation": {"values": activations},
                "when": {
                    "optimizer": {
                        "adam": {"beta1": {"low": 0.5, "high": 0.99, "scale": "reverse_log"}}
                    }
                },
            },
            "fixed": {
                "optimizer": "adam",
                "batch_size": 100,
                "note": CLOSE + QUOTES if hostile else "baseline CNN",
            },
        }
    )
    lr_dom = FloatDomain(1e-4, 0.3, "log")
    wd_dom = FloatDomain(1e-6, 1e-2, "log")
    b1_dom = FloatDomain(0.5, 0.99, "reverse_log")
    act_dom = ChoiceDomain(tuple(activations))
    grid = np.arange(20, steps + 1, 20, dtype=np.int64)
    trials: list[FrozenTrial] = []
    curves: dict[int, dict[str, Curve]] = {}
    created = datetime(2025, 1, 1)
    number = 0
    units = rng.random((per_value, 4))  # paired: the same nuisance points for every value
    units[1, 0], units[2, 0] = 0.97, 0.995  # learning rates that diverge
    for dropout in (0.0, 0.1, 0.3):
        for i in range(per_value):
            number += 1
            u = units[i]
            lr, wd = lr_dom.from_unit(u[0]), wd_dom.from_unit(u[1])
            b1, act = b1_dom.from_unit(u[2]), act_dom.from_unit(u[3])
            params: dict[str, Value] = {
                "dropout": dropout,
                "learning_rate": lr,
                "weight_decay": wd,
                "activation": act,
                "beta1": b1,
                "optimizer": "adam",
                "batch_size": 100,
                "note": spec.fixed["note"],
            }
            state = TrialState.COMPLETE
            reason = stderr = None
            # The best learning rates sit near the top of the range; above ~0.12 it diverges.
            target = 0.07 + 0.35 * (math.log10(lr) - math.log10(0.1)) ** 2 / 6
            target += 0.02 * abs(math.log10(wd) + 4) / 2 + (0.03 if act == "relu" else 0.0)
            target += {0.0: 0.02, 0.1: 0.0, 0.3: 0.01}[dropout] + rng.normal(0, 0.004)
            t = grid / steps
            speed = 3 + 40 * lr
            dev = target + 0.8 * np.exp(-speed * t * 4) + rng.normal(0, 0.004, t.size)
            if dropout == 0.0:
                dev += 0.04 * np.clip(t - 0.5, 0, None)  # overfits late
            train = 2.3 * np.exp(-speed * t * 5) + target / 2 + rng.normal(0, 0.01, t.size)
            norm = 1.5 + 2 * np.exp(-t * 3) + rng.gamma(2, 0.15, t.size)
            if i % 11 == 3:
                norm[rng.integers(5, t.size)] *= 14  # a spike
            trial_curves = {
                metric: Curve(grid, dev),
                train_metric: Curve(grid, np.abs(train)),
                "grad_norm": Curve(grid, norm),
                "lr": Curve(grid, lr * np.minimum(1.0, 1.2 - t)),
                "params_millions": Curve(grid[-1:], np.array([1.3 if i == 5 else 0.6])),
            }
            if lr > 0.12:
                state = TrialState.INFEASIBLE
                cut = int(rng.integers(3, min(30, t.size - 1)))
                for name in (metric, train_metric):
                    v = trial_curves[name].values.copy()
                    v[cut:] = np.nan
                    v[cut - 1] = np.inf
                    trial_curves[name] = Curve(grid, v)
                reason = f"loss is NaN at step {grid[cut]}" + (f" {IMG}" if hostile else "")
            elif i == 7 or (hostile and i == 8):
                state = TrialState.FAILED
                trial_curves = {metric: Curve(grid[:10], dev[:10])}
                reason = "exit code 1" + (f" {XSS}" if hostile else "")
                stderr = (
                    "Traceback (most recent call last):\n  ...\nRuntimeError: CUDA out of memory"
                )
                if hostile:
                    stderr += f"\n{CLOSE}\n{QUOTES}"
            s = score(trial_curves[metric]) if state is TrialState.COMPLETE else None
            trials.append(
                FrozenTrial(
                    id=1000 + number,
                    study_id=1,
                    number=number,
                    state=state,
                    params=params,
                    seed=i,
                    slot=f'{{"dropout": {dropout}}}',
                    slot_index=i,
                    parent_number=None,
                    created_at=created,
                    value=s.value if s else None,
                    value_step=s.step if s else None,
                    reason=reason,
                    stderr_tail=stderr,
                )
            )
            curves[1000 + number] = trial_curves
    snapshot = StudySnapshot.build(spec, trials, curves)
    if reruns:
        snapshot = _reseed(snapshot, reruns, metric, rng)
    analysis = _analysis(snapshot, metric, hostile=hostile, rng=rng)
    if reruns:
        analysis = dataclasses.replace(
            analysis,
            config_variance=_config_variance(snapshot),
            study_variance=_study_variance(snapshot, hostile=hostile),
        )
    return Synthetic(analysis, snapshot, metric, train_metric)


def _reseed(
    snapshot: StudySnapshot, reruns: int, metric: str, rng: np.random.Generator
) -> StudySnapshot:
    """The best trial of each dropout value, trained again ``reruns`` times with new seeds."""
    trials = list(snapshot.trials)
    curves = dict(snapshot.curves)
    number = max(t.number for t in trials)
    ranked = snapshot.ranked()
    best = [next(t for t in ranked if t.params["dropout"] == d) for d in (0.0, 0.1, 0.3)]
    for original in best:
        for k in range(reruns):
            number += 1
            own = dict(curves[original.id])
            shift = float(rng.normal(0, 0.004))
            own[metric] = Curve(own[metric].steps, own[metric].values + shift)
            s = score(own[metric])
            assert s is not None
            trials.append(
                dataclasses.replace(
                    original,
                    id=1000 + number,
                    number=number,
                    seed=10_000 + k,
                    parent_number=original.number,
                    value=s.value,
                    value_step=s.step,
                )
            )
            curves[1000 + number] = own
    return StudySnapshot.build(snapshot.spec, trials, curves)


def _config_variance(snapshot: StudySnapshot) -> tuple[ConfigVariance, ...]:
    """Every ranked configuration with its runs, best mean first (as the analysis fills it)."""
    runs: dict[int, list[FrozenTrial]] = {}
    for t in snapshot.ranked():
        runs.setdefault(t.parent_number or t.number, []).append(t)
    out = []
    for root, members in runs.items():
        members.sort(key=lambda t: t.number)
        values = np.array([t.value or 0.0 for t in members])
        std = float(np.std(values, ddof=1)) if len(values) > 1 else None
        original = next(t for t in snapshot.trials if t.number == root)
        out.append(
            ConfigVariance(
                trial=root,
                params=dict(original.params),
                trial_numbers=tuple(t.number for t in members),
                values=tuple(float(v) for v in values),
                n=len(values),
                mean=float(values.mean()),
                std=std,
                se=std / math.sqrt(len(values)) if std is not None else None,
            )
        )
    return tuple(sorted(out, key=lambda v: (v.mean, v.trial)))


def _study_variance(snapshot: StudySnapshot, *, hostile: bool) -> StudyVariance:
    design = snapshot.design().ranked()
    winner = design[0]
    shares = {
        "0": 0.08,
        "0.1": 0.67,
        "0.3": 0.25,
        **({IMG: 0.0} if hostile else {}),
    }
    return StudyVariance(
        samples=1000,
        winner_share={design[0].number: 0.58, design[1].number: 0.31, design[2].number: 0.12},
        scientific_share={"dropout": shares},
        top_share=0.58,
        winner=winner.number,
        n_trials=len(snapshot.design().trials),
        noise_sd=0.004,
        winner_labels={"dropout": f"{winner.params['dropout']:.3g}"},
    )


def make_project(
    study: str, *, hostile: bool = False
) -> tuple[tuple[RoundRecord, ...], tuple[DecisionRecord, ...]]:
    """Three rounds (two closed) and six decisions: two adoptions (the first without a
    baseline to compare with), a forced adoption, and rejected ideas (one with no interval).

    Returns ``(rounds, decisions)``; ``study`` is attached to the open round.
    """
    # Recent, so that the open round does not dwarf the closed ones on the timeline.
    today = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    t0 = today - timedelta(days=8)
    day = timedelta(days=1)
    bad = f" {XSS} {IMG}" if hostile else ""
    base: dict[str, Value] = {"learning_rate": 0.01, "dropout": 0.0, "activation": "relu"}
    lr = {**base, "learning_rate": 0.03}
    wd = {**lr, "weight_decay": 1e-3}
    drop = {**lr, "dropout": 0.1, "activation": IMG if hostile else "gelu"}

    def evidence(
        baseline: list[float], candidate: list[float], cost: float = 0.0, label: str = "cand"
    ) -> dict[str, Any]:
        c = compare_samples(
            baseline,
            candidate,
            metric="dev_error",
            goal="minimize",
            baseline_label="baseline",
            candidate_label=label + (QUOTES if hostile else ""),
            cost=cost,
        )
        return {"runs": len(candidate), "scores": candidate, "comparison": to_jsonable(c)}

    def decision(
        i: int, kind: str, params: dict[str, Value], ev: dict[str, Any], **kw: Any
    ) -> DecisionRecord:
        return DecisionRecord(
            kind=kind,
            params=params,
            evidence=ev,
            metric="dev_error",
            id=i,
            created_at=t0 + timedelta(days=(0.5, 1.5, 2.8, 3.5, 5.0, 6.0)[i - 1]),
            **kw,
        )

    forced = evidence([0.071, 0.074, 0.069], [0.068, 0.071, 0.070], cost=0.002, label="drop")
    forced["forced"] = True
    decisions = (
        decision(
            1, "adopt", base, {"runs": 3, "scores": [0.09, 0.092, 0.088]},
            study="cnn-lr", trial_number=4, value=0.09, round_number=1,
            notes="the paper's default CNN",
        ),
        decision(
            2, "adopt", lr, evidence([0.09, 0.092, 0.088], [0.071, 0.074, 0.069], label="lr"),
            study="cnn-lr", trial_number=11, value=0.0713, round_number=1,
            notes="a larger learning rate, with warmup",
        ),
        decision(
            3, "reject", wd, evidence([0.071, 0.074, 0.069], [0.070, 0.075, 0.068], label="wd"),
            study="cnn-wd", trial_number=3, value=0.071, round_number=2,
            notes="weight decay: inside the retrain noise",
        ),
        decision(
            4, "reject", {**wd, "weight_decay": 1e-2},
            evidence([0.071, 0.074, 0.069], [0.079], label="wd-big"),
            study="cnn-wd", trial_number=9, value=0.079, round_number=2,
            notes="one run only" + bad,
        ),
        decision(
            5, "adopt", drop, forced, study=study, trial_number=7, value=0.0697,
            round_number=3, notes="adopted before the reruns were in" + bad,
        ),
        decision(
            6, "reject", {**drop, "dropout": 0.3},
            evidence([0.068, 0.071, 0.070], [0.081, 0.083, 0.080], label="drop-0.3"),
            study=study, trial_number=21, value=0.0813, round_number=3,
            notes=f"too much dropout{CLOSE if hostile else ''}",
        ),
    )  # fmt: skip
    rounds = (
        RoundRecord(
            number=1, goal="Find a learning rate that trains the CNN stably", state="closed",
            created_at=t0, studies=("cnn-lr",), closed_at=t0 + 2 * day,
            decision="adopt cnn-lr#11", notes="warmup fixed the early divergence",
            findings={"cnn-lr": {"counts": {"COMPLETE": 40}, "findings": [
                {"code": "boundary.near_edge", "severity": "warning", "message": "m"},
                {"code": "density.more_trials", "severity": "info", "message": "m"},
            ]}},
        ),
        RoundRecord(
            number=2, goal="Does weight decay help?", state="closed",
            created_at=t0 + 2 * day + timedelta(hours=1), studies=("cnn-wd",),
            closed_at=t0 + 4 * day, decision="keep the baseline",
            notes="neither setting beats the retrain noise\nsecond line of notes",
        ),
        RoundRecord(
            number=3, goal=("Does dropout help?" + bad) if hostile else "Does dropout help?",
            state="open", created_at=t0 + 4 * day + timedelta(hours=2),
            studies=(study, "cnn-dropout-wide"),
            decision=None, notes=(f"draft {CLOSE} {QUOTES}" if hostile else None),
        ),
    )  # fmt: skip
    return rounds, decisions


def _analysis(
    snapshot: StudySnapshot, metric: str, *, hostile: bool, rng: np.random.Generator
) -> Analysis:
    spec = snapshot.spec
    counts: dict[str, int] = {}
    for t in snapshot.trials:
        counts[t.state.value] = counts.get(t.state.value, 0) + 1
    snapshot = snapshot.design()  # the search checks read the design, reruns left out
    ranked = snapshot.ranked()
    ranked_ids = {t.id for t in ranked}

    def points(name: str, domain: Any) -> tuple[AxisPoint, ...]:
        return tuple(
            AxisPoint(
                trial=t.number,
                value=t.params[name],
                unit=domain.to_unit(t.params[name]),
                score=t.value if t.state is TrialState.COMPLETE else None,
                state=t.state.value,
                ranked=t.id in ranked_ids,
            )
            for t in snapshot.trials
        )

    nuisance = spec.nuisance
    axes = (
        AxisResult(
            key="learning_rate",
            name="learning_rate",
            role="nuisance",
            kind="float",
            scale="log",
            low=1e-4,
            high=0.3,
            choices=None,
            points=points("learning_rate", nuisance["learning_rate"]),
            near_edge="high",
            margin=0.1,
        ),
        AxisResult(
            key="weight_decay",
            name="weight_decay",
            role="nuisance",
            kind="float",
            scale="log",
            low=1e-6,
            high=1e-2,
            choices=None,
            points=points("weight_decay", nuisance["weight_decay"]),
            margin=0.1,
        ),
        AxisResult(
            key="beta1[optimizer=adam]",
            name="beta1",
            role="nuisance",
            kind="float",
            scale="reverse_log",
            low=0.5,
            high=0.99,
            choices=None,
            points=points("beta1", spec.nuisance_when["optimizer"]["adam"]["beta1"]),
            margin=0.1,
        ),
        AxisResult(
            key="activation",
            name="activation",
            role="nuisance",
            kind="choice",
            scale=None,
            low=None,
            high=None,
            choices=tuple(nuisance["activation"].values),  # type: ignore[union-attr]
            points=points("activation", nuisance["activation"]),
        ),
        AxisResult(
            key="dropout",
            name="dropout",
            role="scientific",
            kind="choice",
            scale=None,
            low=None,
            high=None,
            choices=(0.0, 0.1, 0.3),
            points=points("dropout", spec.scientific["dropout"]),
        ),
    )
    groups = []
    for value in (0.0, 0.1, 0.3):
        members = [t for t in snapshot.trials if t.params["dropout"] == value]
        good = [t for t in ranked if t.params["dropout"] == value]
        groups.append(
            IsolationGroup(
                label=f"{value:g}",
                value=value,
                low=None,
                high=None,
                n_trials=len(members),
                n_complete=sum(t.state is TrialState.COMPLETE for t in members),
                n_infeasible=sum(t.state is TrialState.INFEASIBLE for t in members),
                best_trial=good[0].number if good else None,
                best_score=good[0].value if good else None,
                scores=tuple(t.value for t in good if t.value is not None),
                best_at_boundary=("learning_rate",) if value == 0.1 else (),
            )
        )
    best_group = min(
        (g for g in groups if g.best_score is not None), key=lambda g: g.best_score or 0.0
    )
    isolation = IsolationResult(
        name="dropout",
        groups=tuple(groups),
        verdict="thin",
        reasons=(
            "the best trial of dropout=0.1 sits at the high edge of learning_rate",
            *((f"value {XSS}",) if hostile else ()),
        ),
        best_label=best_group.label,
    )
    scores = np.array([t.value for t in ranked], dtype=float)
    ks = tuple(sorted({1, 2, 3, 5, 8, 12, 20, 30, 50, len(scores)} - {0}))
    ks = tuple(k for k in ks if k <= len(scores))
    draws = [np.min(rng.choice(scores, (400, k)), axis=1) for k in ks]
    bok = BestOfK(
        k=ks,
        median=tuple(float(np.median(d)) for d in draws),
        q25=tuple(float(np.quantile(d, 0.25)) for d in draws),
        q75=tuple(float(np.quantile(d, 0.75)) for d in draws),
        observed_best=float(scores.min()),
        n=len(scores),
    )
    top = ranked[:3]
    checks = [CurveCheck(t.number, f"best {i + 1}") for i, t in enumerate(top)]
    for g in groups:
        if g.best_trial is not None and g.best_trial not in {c.trial for c in checks}:
            checks.append(CurveCheck(g.best_trial, f"best with dropout={g.label}"))
    checks[0] = CurveCheck(checks[0].trial, checks[0].why, ("curves.still_improving",))
    steps = spec.budget.max_train_steps
    fractions = tuple((t.number, (t.value_step or 0) / steps) for t in ranked)
    best_steps = BestStepSummary(
        fractions=fractions,
        early_share=float(np.mean([f < 0.1 for _, f in fractions])),
        late_share=float(np.mean([f >= 0.75 for _, f in fractions])),
    )
    norms = np.concatenate([snapshot.curves[t.id]["grad_norm"].values for t in ranked[:5]])
    threshold = float(np.percentile(norms, 90))
    grad = GradNormSummary(
        metric="grad_norm",
        threshold=threshold,
        percentile=90.0,
        clipped_fraction={
            t.number: float(np.mean(snapshot.curves[t.id]["grad_norm"].values > threshold))
            for t in ranked[:5]
        },
        spikes={
            t.number: tuple(
                int(s)
                for s, v in zip(
                    snapshot.curves[t.id]["grad_norm"].steps,
                    snapshot.curves[t.id]["grad_norm"].values,
                    strict=True,
                )
                if v > 10
            )
            for t in ranked[:5]
        },
    )
    h = f" {IMG}" if hostile else ""
    findings = (
        Finding(
            code="boundary.near_edge",
            severity="critical",
            message="4 of the 5 best trials sit in the top 10% of learning_rate's range." + h,
            action="Expand learning_rate upward (e.g. high = 3.0) and run the study again.",
            section="§5 Extracting insight",
            evidence={
                "axis": "learning_rate",
                "edge": "high",
                "share": 0.8,
                "margin": 0.1,
                "best_units": [0.93, 0.97, 0.91, 0.95],
            },
            subject="learning_rate",
        ),
        Finding(
            code="infeasible.stability_edge",
            severity="warning",
            message=(
                f"{counts.get('INFEASIBLE', 0)} trials diverged; every trial above "
                "learning_rate = 0.12 is infeasible and the best trial sits at that edge." + h
            ),
            action="This is a stability problem: add warmup or gradient clipping, then "
            "widen the learning rate range (§9).",
            section="§5 Extracting insight; §9 Stability",
            evidence={"fraction": 0.13, "above": 0.12, "axis": "learning_rate"},
            subject="learning_rate",
        ),
        Finding(
            code="curves.overfitting",
            severity="warning",
            message="The dev error of the best trial with dropout=0 rises by 4% after step 1000.",
            action="Regularize (dropout is the scientific hyperparameter: read the isolation "
            "plot before adding more).",
            section="§5 Extracting insight",
            evidence={
                "trial": top[0].number,
                "best": 0.071,
                "final": 0.074,
                "detail": XSS if hostile else "ok",
            },
            subject=f"trial {top[0].number}",
        ),
        Finding(
            code="density.more_trials",
            severity="info",
            message="Doubling the trials moved the median best-of-k by 0.4 IQR.",
            action="More trials would likely still change the winner: extend the study.",
            section="§5 Extracting insight",
            evidence={"gain": 0.4, "threshold": 0.25},
        ),
    )
    return Analysis(
        study=spec.name,
        goal=spec.goal,
        metric=metric,
        direction="minimize",
        counts=counts,
        findings=findings,
        axes=axes,
        isolation=(isolation,),
        best_of_k=bok,
        curve_checks=tuple(checks),
        best_steps=best_steps,
        grad_norm=grad,
        settings={"boundary_margin": 0.1, "clip_percentile": 90.0},
    )
