"""Training-curve checks on the best trials (PLAYBOOK_SPEC §5 item 22, §8).

The best ``curve_top_k`` trials and the best trial of each scientific value are read the way the
playbook reads them: overfitting, high step-to-step noise late in training, still improving at
the end, saturated long before the end, training loss rising, divergence. Curves are judged on a
smoothed copy (a moving mean over a window of training steps) and a change only counts when it
also stands out from the curve's own noise, so that plain noise is never reported as a trend.
Steps are read as fractions of ``max_train_steps`` (eval points need not be regular).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scitune.analysis._config import AnalysisConfig
from scitune.analysis._results import CurveCheck, Finding, Severity
from scitune.analysis._snapshot import StudySnapshot
from scitune.storage import Curve

__all__ = ["CURVE_CODES", "checked_trials", "curve_findings"]

FloatArray = npt.NDArray[np.float64]

MIN_POINTS = 5
"""Fewer finite points than this: the curve is too short to judge."""
MIN_WINDOW_POINTS = 4
"""Fewer points than this in the late window: its noise is not judged."""

CURVE_CODES = (
    "curves.diverged",
    "curves.train_loss_rising",
    "curves.overfitting",
    "curves.still_improving",
    "curves.saturated",
    "curves.late_noise",
)
_EXTRACT = "§5 Extracting insight"
_HOW_LONG = "§5 Extracting insight; §8 How long to train"
_REGULARIZERS = re.compile(
    r"dropout|weight_decay|wd|l2|label_smooth|augment|mix|drop_path|regulari"
)


def checked_trials(snap: StudySnapshot, cfg: AnalysisConfig) -> list[CurveCheck]:
    """The best ``cfg.curve_top_k`` ranked trials, then the best of each scientific value.

    A trial chosen for both reasons appears once, with both reasons in ``why``. Values are
    grouped by design cell (``trial.slot``) in ``per_value`` studies, else by the scientific
    parameters themselves.
    """
    ranked = snap.ranked()
    k = min(cfg.curve_top_k, len(ranked))
    why: dict[int, list[str]] = {t.number: [f"best {k}"] for t in ranked[:k]}
    names = snap.spec.scientific_space().names
    if names:
        per_value = snap.spec.search.design == "per_value"
        seen: set[str] = set()
        for t in ranked:
            sci = {n: t.params[n] for n in names if n in t.params}
            key = t.slot if per_value and t.slot else json.dumps(sci, sort_keys=True, default=str)
            if key in seen:
                continue
            seen.add(key)
            label = ", ".join(f"{n}={v}" for n, v in sci.items()) or key
            why.setdefault(t.number, []).append(f"best with {label}")
    return [CurveCheck(trial=n, why="; ".join(reasons)) for n, reasons in why.items()]


@dataclass(frozen=True)
class _Series:
    """A curve's finite points in 'lower is better' units, smoothed, with its noise level."""

    steps: npt.NDArray[np.int64]
    x: FloatArray  # step / max_train_steps
    y: FloatArray  # sign * value
    smooth: FloatArray
    m: FloatArray  # points averaged into each smoothed value
    sigma: float  # noise standard deviation of y, from second differences
    sign: float

    def se(self, i: int, j: int) -> float:
        """Standard error of ``smooth[i] - smooth[j]``."""
        return self.sigma * float(np.sqrt(1.0 / self.m[i] + 1.0 / self.m[j]))

    def value(self, i: int) -> float:
        """The smoothed curve at ``i`` in the metric's own units."""
        return self.sign * float(self.smooth[i])


@dataclass(frozen=True)
class _Judge:
    """The checks on one trial's curves, with the settings they share."""

    cfg: AnalysisConfig
    max_steps: int
    width: float  # smoothing window, share of max_train_steps
    z: float  # noise guard, standard errors

    def series(self, curve: Curve | None, sign: float) -> _Series | None:
        if curve is None:
            return None
        ok = np.isfinite(curve.values)
        if int(ok.sum()) < MIN_POINTS:
            return None
        steps, y = curve.steps[ok], sign * curve.values[ok]
        x = steps.astype(np.float64) / self.max_steps
        # A window of fixed width, clamped inside the curve, so the ends average as many points.
        w = self.width
        start = np.clip(x - w / 2, x[0], max(x[-1] - w, x[0]))
        lo = np.searchsorted(x, start, "left")
        hi = np.maximum(np.searchsorted(x, start + w * (1 + 1e-9), "right"), lo + 1)
        total = np.concatenate(([0.0], np.cumsum(y)))
        m = (hi - lo).astype(np.float64)
        # Second differences cancel a linear trend; for white noise E|d2| = sqrt(12 / pi) sigma.
        sigma = float(np.mean(np.abs(np.diff(y, 2))) / np.sqrt(12.0 / np.pi))
        return _Series(steps, x, y, (total[hi] - total[lo]) / m, m, sigma, sign)

    def overfit(self, dev: _Series, train: _Series | None) -> dict[str, Any] | None:
        i = int(np.argmin(dev.smooth))
        rise = float(dev.smooth[-1] - dev.smooth[i])
        rel = _rel(rise, dev.smooth[i])
        if rel <= self.cfg.overfit_tolerance or rise <= self.z * dev.se(i, -1):
            return None
        out: dict[str, Any] = dict(best_step=int(dev.steps[i]), relative_rise=rel)
        out.update(best_smoothed=dev.value(i), final_smoothed=dev.value(-1))
        if train is not None and train.x[0] <= dev.x[i]:
            at_best = float(np.interp(dev.x[i], train.x, train.smooth))
            drop = _rel(at_best - float(train.smooth[-1]), at_best)
            out["train_relative_drop"] = drop
            out["train_kept_falling"] = bool(drop > self.cfg.improving_threshold)
        return out

    def late_noise(self, dev: _Series) -> dict[str, Any] | None:
        late = dev.y[dev.x >= 1.0 - self.cfg.late_window]
        if len(late) < MIN_WINDOW_POINTS:
            return None
        d = np.diff(late)
        noise = float(np.median(np.abs(d - np.median(d))))  # a steady trend is not noise
        level = float(np.median(np.abs(late)))
        if _rel(noise, level) <= self.cfg.late_noise_threshold:
            return None
        return dict(median_abs_change=noise, median_level=level, noise_ratio=_rel(noise, level))

    def still_improving(self, dev: _Series) -> dict[str, Any] | None:
        x0 = 1.0 - self.cfg.late_window
        if dev.x[0] > x0 or dev.x[-1] <= x0:
            return None
        start = float(np.interp(x0, dev.x, dev.smooth))
        gain = start - float(dev.smooth[-1])
        best, i0 = int(np.argmin(dev.y)), int(np.searchsorted(dev.x, x0))
        if dev.x[best] < x0 or _rel(gain, start) <= self.cfg.improving_threshold:
            return None
        if gain <= self.z * dev.se(i0, -1):
            return None
        steps = dict(window_start_step=int(dev.steps[i0]), best_step=int(dev.steps[best]))
        return dict(relative_gain=_rel(gain, start), **steps)

    def saturated(self, dev: _Series) -> dict[str, Any] | None:
        if dev.x[-1] < 1.0 - self.cfg.late_window:
            return None  # the curve does not reach the end of training
        t = int(np.argmin(dev.smooth))
        target = float(dev.smooth[t])
        noise = self.z * dev.sigma * np.sqrt(1.0 / dev.m + 1.0 / dev.m[t])
        band = np.maximum(self.cfg.saturation_tolerance * abs(target), noise)
        first = int(np.argmax(dev.smooth - target <= band))
        if dev.x[first] >= self.cfg.saturation_fraction:
            return None
        reached = dict(reached_step=int(dev.steps[first]), reached_fraction=float(dev.x[first]))
        return dict(final_best_smoothed=dev.value(t), **reached)

    def train_rising(self, train: _Series) -> dict[str, Any] | None:
        i = int(np.argmin(train.smooth))
        low, end = float(train.smooth[i]), float(train.smooth[-1])
        x0 = max(1.0 - self.cfg.late_window, float(train.x[0]))
        trend = end - float(np.interp(x0, train.x, train.smooth))
        rel = _rel(end - low, low)
        if rel <= self.cfg.train_rise_threshold or trend <= 0:
            return None
        if end - low <= self.z * train.se(i, -1):
            return None
        return dict(
            min_step=int(train.steps[i]), min_smoothed=low, final_smoothed=end, relative_rise=rel
        )

    def judge(
        self, raw: Mapping[str, Curve | None], dev_name: str, train_name: str | None, sign: float
    ) -> dict[str, dict[str, Any]]:
        """The codes that fire on one trial's curves, each with its evidence."""
        found: dict[str, dict[str, Any]] = {}
        if (bad := _non_finite(raw)) is not None:
            found["curves.diverged"] = bad
        dev = self.series(raw[dev_name], sign)
        train = self.series(raw[train_name], 1.0) if train_name else None
        if train is not None and (rising := self.train_rising(train)) is not None:
            found["curves.train_loss_rising"] = rising
        if dev is None:
            return found
        if (over := self.overfit(dev, train)) is not None:
            found["curves.overfitting"] = over
        if (improving := self.still_improving(dev)) is not None:
            found["curves.still_improving"] = improving
        elif over is None and (sat := self.saturated(dev)) is not None:
            found["curves.saturated"] = sat
        if (noise := self.late_noise(dev)) is not None:
            found["curves.late_noise"] = noise
        return found


def _rel(delta: float, ref: float) -> float:
    return float(delta / max(abs(ref), float(np.finfo(np.float64).tiny)))


def _non_finite(curves: Mapping[str, Curve | None]) -> dict[str, Any] | None:
    bad = []
    for name, c in curves.items():
        mask = ~np.isfinite(c.values) if c is not None else np.zeros(0, bool)
        if c is not None and mask.any():
            i, count = int(np.argmax(mask)), int(mask.sum())
            value, step = str(c.values[i]), int(c.steps[i])
            bad.append(dict(metric=name, first_step=step, first_value=value, count=count))
    return {"bad": bad} if bad else None


def curve_findings(
    snap: StudySnapshot, cfg: AnalysisConfig
) -> tuple[list[CurveCheck], list[Finding]]:
    """Curve checks on :func:`checked_trials`: one finding per code, listing affected trials.

    Returns the checked trials with the codes that fired on each, and the findings (``curves.ok``
    when none fired on any trial that could be judged).
    """
    checks = checked_trials(snap, cfg)
    if not checks:
        return [], []
    by_number = {t.number: t for t in snap.trials}
    metric = snap.spec.objective.metric
    train_name = snap.train_metric(cfg.train_metric)
    max_steps = snap.spec.budget.max_train_steps
    # Read from AnalysisConfig once it has these fields; until then, our module defaults.
    width = cfg.curve_smoothing
    z = cfg.curve_noise_z
    judge = _Judge(cfg, max_steps, width, z)
    hits: dict[str, list[dict[str, Any]]] = {code: [] for code in CURVE_CODES}
    judged: list[int] = []
    out_checks: list[CurveCheck] = []
    for check in checks:
        trial = by_number[check.trial]
        raw = {metric: snap.curve(trial, metric)}
        if train_name:
            raw[train_name] = snap.curve(trial, train_name)
        found = judge.judge(raw, metric, train_name, snap.sign)
        dev = raw[metric]
        if dev is not None and int(np.isfinite(dev.values).sum()) >= MIN_POINTS:
            judged.append(trial.number)
        for code, evidence in found.items():
            hits[code].append({"trial": trial.number, **evidence})
        out_checks.append(dataclasses.replace(check, codes=tuple(found)))
    base: dict[str, Any] = dict(metric=metric, train_metric=train_name)
    base["checked"] = [c.trial for c in checks]
    base.update(max_train_steps=max_steps, smoothing=width, noise_z=z, min_points=MIN_POINTS)
    base["defaults"] = "ours"
    findings = [_finding(code, items, snap, cfg, base) for code, items in hits.items() if items]
    if not findings and judged:
        text = (
            f"The curves of the checked trials ({_list(judged)}) show no overfitting, late noise, "
            "unfinished improvement, early saturation, rising training loss or divergence."
        )
        action = "Nothing to change in the training length or regularization for now."
        ok = {**base, "judged": judged}
        findings.append(Finding("curves.ok", "info", text, action, _EXTRACT, ok, metric))
    return out_checks, findings


def _list(numbers: list[int]) -> str:
    return ", ".join(f"#{n}" for n in numbers)


# code -> (severity, section, headline, one trial, limit, action, settings used)
_TEXTS: dict[str, tuple[Severity, str, str, str, str, str, tuple[str, ...]]] = {
    "curves.overfitting": (
        "warning",
        _EXTRACT,
        "{metric} turns worse after its best (smoothed) in {head}",
        "#{trial} (best {best_smoothed:.4g} at step {best_step}, ends at {final_smoothed:.4g}: "
        "{relative_rise:.1%} worse{kept})",
        "tolerance {overfit_tolerance:.0%}, ours",
        "Add or strengthen regularization (dropout, weight decay, data augmentation), tuned as "
        "nuisance hyperparameters, in the next study.",
        ("overfit_tolerance", "improving_threshold"),
    ),
    "curves.late_noise": (
        "warning",
        _EXTRACT,
        "{metric} is noisy from step to step in the last {late_window:.0%} of training "
        "(median |change| / median |level|) in {head}",
        "#{trial} ({noise_ratio:.1%})",
        "threshold {late_noise_threshold:.0%}, ours",
        "Reduce the noise before trusting small differences: a bigger batch, more validation "
        "data, learning-rate decay, or Polyak averaging of the weights.",
        ("late_window", "late_noise_threshold"),
    ),
    "curves.still_improving": (
        "warning",
        _HOW_LONG,
        "{metric} is still improving at the end of training in {head}",
        "#{trial} ({relative_gain:.1%} better since step {window_start_step}, best at step "
        "{best_step})",
        "threshold {improving_threshold:.0%} over the last {late_window:.0%}, ours",
        "Training is compute-bound: raise max_train_steps in the next study (never inside this "
        "one), or try another learning-rate schedule.",
        ("late_window", "improving_threshold"),
    ),
    "curves.saturated": (
        "info",
        _HOW_LONG,
        "{metric} is already within {saturation_tolerance:.0%} of its final best before "
        "{saturation_fraction:.0%} of training in {head}",
        "#{trial} (from step {reached_step}, {reached_fraction:.0%} of max_train_steps)",
        "tolerance and fraction are ours",
        "The later steps add nothing: cut max_train_steps in the next study and spend the "
        "compute on more trials.",
        ("saturation_tolerance", "saturation_fraction"),
    ),
    "curves.train_loss_rising": (
        "warning",
        _EXTRACT,
        "{train_metric} rises towards the end of training in {head}",
        "#{trial} (min {min_smoothed:.4g} at step {min_step}, ends at {final_smoothed:.4g}: "
        "{relative_rise:.1%} higher)",
        "threshold {train_rise_threshold:.0%}, ours",
        "Training loss should not go up: look for a bug (data pipeline, loss, labels, optimizer "
        "state) or a learning rate too high for this configuration (warmup, clipping, lower LR).",
        ("late_window", "train_rise_threshold"),
    ),
    "curves.diverged": (
        "warning",
        "§5 Extracting insight; §9 Stability",
        "Non-finite values (NaN/inf) in the curves of {head}",
        "#{trial} ({where})",
        "any non-finite value",
        "The run is numerically unstable even though its best checkpoint scored: add warmup or "
        "gradient clipping, or lower the learning rate (§9).",
        (),
    ),
}


def _item(template: str, e: dict[str, Any]) -> str:
    kept = ", while the training loss kept falling" if e.get("train_kept_falling") else ""
    where = ", ".join(
        f"{b['metric']} {b['first_value']} at step {b['first_step']}" for b in e.get("bad", ())
    )
    return template.format(**e, kept=kept, where=where)


def _finding(
    code: str,
    items: list[dict[str, Any]],
    snap: StudySnapshot,
    cfg: AnalysisConfig,
    base: dict[str, Any],
) -> Finding:
    severity, section, head, item, limit, action, used = _TEXTS[code]
    settings = {name: getattr(cfg, name) for name in used}
    words = {**base, **settings, "head": f"{len(items)} of {len(base['checked'])} checked trials"}
    subject = base["train_metric"] if code == "curves.train_loss_rising" else base["metric"]
    evidence = {**base, **settings, "trials": items}
    if code == "curves.overfitting":
        sci = [n for n in snap.spec.scientific_space().names if _REGULARIZERS.search(n.lower())]
        evidence["scientific_regularizers"] = sci
        if sci:
            action = (
                f"Regularization ({', '.join(sci)}) is this study's scientific question: compare "
                "its values as they are rather than adding other regularizers."
            )
        action += " scitune already scores each trial at its best checkpoint."
    elif code == "curves.diverged":
        subject = ", ".join(sorted({b["metric"] for e in items for b in e["bad"]}))
    trials = "; ".join(_item(item, e) for e in items)
    message = f"{head.format(**words)}: {trials}; {limit.format(**words)}."
    return Finding(code, severity, message, action, section, evidence, subject)
