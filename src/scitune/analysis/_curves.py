"""Training-curve checks on the best trials (PLAYBOOK_SPEC §5 item 22, §8).

The best ``curve_top_k`` trials and the best trial of each scientific value are read the way the
playbook reads them: overfitting, high step-to-step noise late in training, still improving at
the end, saturated long before the end, training loss rising. Sizes are read on a smoothed copy
(a moving mean over ``curve_smoothing`` of training); a trend only counts when a line fitted to
the raw points shows it with a t-statistic past the one-sided ``curve_noise_z``-sigma level, so
plain noise is never reported as a trend. Every message states the numbers its test compared.
Steps are read as fractions of ``max_train_steps`` (eval points need not be regular). A check
that cannot run says so (``curves.skipped``), with what to log to enable it. Divergence and no
learning are judged on every completed trial (:mod:`scitune.analysis._learning`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scitune.analysis._config import AnalysisConfig
from scitune.analysis._learning import learning_checks, trial_list
from scitune.analysis._results import CurveCheck, Finding, Severity
from scitune.analysis._snapshot import StudySnapshot
from scitune.storage import Curve

__all__ = [
    "CURVE_CODES",
    "checked_trials",
    "critical_t",
    "curve_findings",
    "noise_sd",
    "resolution",
    "smooth",
]

FloatArray = npt.NDArray[np.float64]

MIN_POINTS = 5
"""Fewer finite points than this: the curve is too short to judge."""
RESOLUTION_SHARE = 0.25
"""Ours. The resolution band of saturation never exceeds this share of the best value."""
MIN_WINDOW_POINTS = 4
"""Fewer points than this in the late window: its noise and trend are not judged."""

CURVE_CODES = (
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
    """A curve's finite points in 'lower is better' units, with their moving mean."""

    steps: npt.NDArray[np.int64]
    x: FloatArray  # step / max_train_steps
    y: FloatArray  # sign * value
    smooth: FloatArray
    sign: float

    def value(self, i: int) -> float:
        """The smoothed curve at ``i`` in the metric's own units."""
        return self.sign * float(self.smooth[i])


@dataclass(frozen=True)
class _Trend:
    """A least-squares line through raw points: its change over them and its t-statistic."""

    points: int
    change: float  # fitted change from the first point to the last, 'lower is better' units
    t: float  # slope / its standard error from the residuals; > 0: getting worse


def smooth(x: FloatArray, y: FloatArray, width: float) -> FloatArray:
    """The moving mean of ``y`` over a window ``width`` wide in ``x`` (shares of training).

    The window is centred on each point and clamped inside the curve, so the ends average as
    many points as the middle: the first and last ``width`` of the curve each share one mean.
    """
    start = np.clip(x - width / 2, x[0], max(x[-1] - width, x[0]))
    lo = np.searchsorted(x, start, "left")
    hi = np.maximum(np.searchsorted(x, start + width * (1 + 1e-9), "right"), lo + 1)
    total = np.concatenate(([0.0], np.cumsum(y)))
    out: FloatArray = (total[hi] - total[lo]) / (hi - lo)
    return out


def _trend(x: FloatArray, y: FloatArray) -> _Trend | None:
    n = len(x)
    if n < 3:
        return None
    xc = x - x.mean()
    sxx = float(xc @ xc)
    if sxx <= 0:
        return None
    slope = float(xc @ (y - y.mean())) / sxx
    resid = y - y.mean() - slope * xc
    scale = max(float(np.max(np.abs(y))), float(np.finfo(np.float64).tiny))
    sd = max(float(np.sqrt(resid @ resid / (n - 2))), 1e-12 * scale)  # an exact line: no 0/0
    return _Trend(n, slope * float(x[-1] - x[0]), slope * float(np.sqrt(sxx)) / sd)


def noise_sd(y: FloatArray) -> float:
    """The sd of one evaluation's noise, read from step-to-step changes (their mean removed, so
    a steady trend is not noise): sd(diff) / sqrt(2). 0 with fewer than 3 points."""
    if len(y) < 3:
        return 0.0
    return float(np.std(np.diff(y), ddof=1) / np.sqrt(2))


def resolution(y: FloatArray) -> float:
    """The smallest non-zero change between evaluations: one dev example for an error rate."""
    d = np.abs(np.diff(y))
    scale = max(float(np.max(np.abs(y))), float(np.finfo(np.float64).tiny))
    d = d[d > 1e-9 * scale]
    return float(d.min()) if d.size else 0.0


@functools.lru_cache(maxsize=512)
def critical_t(z: float, points: int) -> float:
    """The t a line through ``points`` points must exceed: as rare under noise as ``z`` sigma."""
    from scipy import stats  # heavy: loaded when a curve is first judged, not on import

    return float(stats.t.isf(stats.norm.sf(z), points - 2))


@dataclass(frozen=True)
class _Judge:
    """The checks on one trial's curves, with the settings they share."""

    cfg: AnalysisConfig
    max_steps: int

    def series(self, curve: Curve | None, sign: float, name: str) -> _Series | tuple[str, str]:
        """The curve ready to judge, or why it cannot be (reason, what to log)."""
        if curve is None:
            return f"no {name} curve", f"log {name} during training"
        ok = np.isfinite(curve.values)
        if (k := int(ok.sum())) < MIN_POINTS:
            return f"{k} finite {name} point{'s' if k != 1 else ''}, needs {MIN_POINTS}", (
                self.every(name)
            )
        steps, y = curve.steps[ok], sign * curve.values[ok]
        x = steps.astype(np.float64) / self.max_steps
        return _Series(steps, x, y, smooth(x, y, self.cfg.curve_smoothing), sign)

    def every(self, name: str) -> str:
        """What to log so that every check can run: enough points in the late window."""
        share = self.cfg.late_window / (MIN_WINDOW_POINTS + 1)
        interval = max(1, int(share * self.max_steps))
        return (
            f"log {name} at least every {interval} steps (max_train_steps/{1 / share:.3g}) and "
            "at the last step"
        )

    def window(self, s: _Series, name: str) -> tuple[str, str] | None:
        """Why the late window cannot be judged (reason, what to log), or None."""
        lw = self.cfg.late_window
        if s.x[-1] <= 1.0 - lw:
            return (
                f"{name} ends at step {int(s.steps[-1])}, {s.x[-1]:.0%} of training, before "
                f"the last {lw:.0%}",
                f"log {name} until the last step ({self.max_steps})",
            )
        k = int(np.sum(s.x >= 1.0 - lw))
        if k < MIN_WINDOW_POINTS:
            return (
                f"{k} {name} point{'s' if k != 1 else ''} in the last {lw:.0%} of training, "
                f"needs {MIN_WINDOW_POINTS}",
                self.every(name),
            )
        return None

    def significant(self, trend: _Trend | None, t: float) -> float | None:
        """The critical t when ``t`` (the trend's t, signed as the claim) exceeds it."""
        if trend is None:
            return None
        crit = critical_t(self.cfg.curve_noise_z, trend.points)
        return crit if t > crit else None

    def overfit(self, dev: _Series, train: _Series | None) -> dict[str, Any] | None:
        i = int(np.argmin(dev.smooth))
        rise = float(dev.smooth[-1] - dev.smooth[i])
        rel = _rel(rise, dev.smooth[i])
        if rel <= self.cfg.overfit_tolerance:
            return None
        trend = _trend(dev.x[i:], dev.y[i:])
        if trend is None or (crit := self.significant(trend, trend.t)) is None:
            return None
        out: dict[str, Any] = dict(best_step=int(dev.steps[i]), relative_rise=rel)
        out.update(best_smoothed=dev.value(i), final_smoothed=dev.value(-1))
        out.update(trend_points=trend.points, trend_change=dev.sign * trend.change)
        out.update(trend_t=trend.t, t_critical=crit)
        if train is not None and train.x[0] <= dev.x[i]:
            at_best = float(np.interp(dev.x[i], train.x, train.smooth))
            drop = _rel(at_best - float(train.smooth[-1]), at_best)
            out["train_relative_drop"] = drop
            out["train_kept_falling"] = bool(drop > _TRAIN_FALLING)
            if not out["train_kept_falling"]:
                return None  # dev worsens because training does: not overfitting (§5 item 22)
        return out

    def late_noise(self, dev: _Series) -> dict[str, Any] | None:
        late = dev.y[dev.x >= 1.0 - self.cfg.late_window]
        d = np.diff(late)
        noise = float(np.median(np.abs(d - np.median(d))))  # a steady trend is not noise
        level = float(np.median(np.abs(late)))
        if _rel(noise, level) <= self.cfg.late_noise_threshold:
            return None
        ratio = _rel(noise, level)
        out: dict[str, Any] = dict(median_abs_change=noise, median_level=level)
        return out | dict(noise_ratio=ratio, points=len(late))

    def still_improving(self, dev: _Series) -> dict[str, Any] | None:
        lw = self.cfg.late_window
        x0 = 1.0 - lw
        i0 = int(np.searchsorted(dev.x, x0))
        p0 = int(np.searchsorted(dev.x, x0 - lw))
        best = int(np.argmin(dev.y))
        if dev.x[best] < x0 or i0 - p0 < 2:
            return None
        before, late = dev.y[p0:i0], dev.y[i0:]
        gain = float(before.mean() - late.mean())
        rel = _rel(gain, float(before.mean()))
        sd = noise_sd(dev.y[p0:])
        se = sd * float(np.sqrt(1 / len(before) + 1 / len(late)))
        z = gain / max(se, 1e-12 * max(float(np.max(np.abs(dev.y))), 1e-300))
        if rel <= self.cfg.improving_threshold or z <= self.cfg.improving_z:
            return None
        out: dict[str, Any] = dict(window_start_step=int(dev.steps[i0]), relative_gain=rel)
        out.update(before_start_step=int(dev.steps[p0]), before_points=len(before))
        out.update(before_mean=dev.sign * float(before.mean()), late_points=len(late))
        out.update(late_mean=dev.sign * float(late.mean()), noise_sd=sd, z=z)
        out.update(best_step=int(dev.steps[best]))
        return out

    def saturated(self, dev: _Series) -> dict[str, Any] | None:
        t = int(np.argmin(dev.smooth))
        target = float(dev.smooth[t])
        rel_band = self.cfg.saturation_tolerance * abs(target)
        sd = noise_sd(dev.y[dev.x >= self.cfg.saturation_fraction])
        # One dev example is not noise on a curve whose error is a few examples: capped.
        step = min(
            resolution(dev.y),
            RESOLUTION_SHARE * abs(target) / max(self.cfg.saturation_resolution_k, 1e-300),
        )
        band = max(
            rel_band, self.cfg.saturation_noise_k * sd, self.cfg.saturation_resolution_k * step
        )
        outside = np.flatnonzero(dev.smooth - target > band)
        first = int(outside[-1]) + 1 if outside.size else 0
        if first >= len(dev.x) or dev.x[first] >= self.cfg.saturation_fraction:
            return None
        worst = first + int(np.argmax(dev.smooth[first:]))
        out: dict[str, Any] = dict(best_smoothed=dev.value(t), best_step=int(dev.steps[t]))
        out.update(reached_step=int(dev.steps[first]), reached_fraction=float(dev.x[first]))
        out.update(worst_after_smoothed=dev.value(worst), worst_after_step=int(dev.steps[worst]))
        out.update(band=band, relative_band=rel_band, noise_sd=sd, resolution=step)
        return out

    def train_rising(self, train: _Series) -> dict[str, Any] | None:
        i = int(np.argmin(train.smooth))
        low, end = float(train.smooth[i]), float(train.smooth[-1])
        i0 = min(int(np.searchsorted(train.x, 1.0 - self.cfg.late_window)), len(train.x) - 1)
        rel = _rel(end - low, low)
        if rel <= self.cfg.train_rise_threshold or end <= float(train.smooth[i0]):
            return None
        trend = _trend(train.x[i:], train.y[i:])
        if trend is None or (crit := self.significant(trend, trend.t)) is None:
            return None
        out: dict[str, Any] = dict(min_step=int(train.steps[i]), min_smoothed=low)
        out.update(final_smoothed=end, relative_rise=rel)
        out.update(window_start_step=int(train.steps[i0]), window_start_smoothed=train.value(i0))
        out.update(trend_points=trend.points, trend_change=trend.change, trend_t=trend.t)
        out.update(t_critical=crit)
        return out

    def judge(
        self, raw: Mapping[str, Curve | None], dev_name: str, train_name: str | None, sign: float
    ) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str, str]], list[str]]:
        """One trial's curves: the codes that fire with their evidence, the checks that could
        not run (code, reason, what to log) and the codes that ran."""
        found: dict[str, dict[str, Any]] = {}
        skipped: list[tuple[str, str, str]] = []
        ran: list[str] = []
        dev = self.series(raw.get(dev_name), sign, dev_name)
        if train_name is None:
            why: tuple[str, str] | None = ("no training-loss curve", _ENABLE_TRAIN)
            train = None
        else:
            got = self.series(raw.get(train_name), 1.0, train_name)
            train, why = (got, None) if isinstance(got, _Series) else (None, got)
        if train is not None:
            ran.append("curves.train_loss_rising")
            if (rising := self.train_rising(train)) is not None:
                found["curves.train_loss_rising"] = rising
        elif why is not None:
            skipped.append(("curves.train_loss_rising", *why))
        if not isinstance(dev, _Series):
            skipped += [(code, *dev) for code in _DEV_CODES]
            return found, skipped, ran
        ran.append("curves.overfitting")
        if (over := self.overfit(dev, train)) is not None:
            found["curves.overfitting"] = over
        late = self.window(dev, dev_name)
        improving = None
        if late is not None:
            skipped.append(("curves.still_improving", *late))
        elif dev.x[0] > 1.0 - self.cfg.late_window:
            start = f"{dev_name} starts only at step {int(dev.steps[0])}, in the last "
            start += f"{self.cfg.late_window:.0%} of training"
            skipped.append(("curves.still_improving", start, self.every(dev_name)))
        else:
            ran.append("curves.still_improving")
            if (improving := self.still_improving(dev)) is not None:
                found["curves.still_improving"] = improving
        noise = None
        if late is not None:
            skipped.append(("curves.late_noise", *late))
        else:
            ran.append("curves.late_noise")
            if (noise := self.late_noise(dev)) is not None:
                found["curves.late_noise"] = noise
        # Saturation reads the whole curve; it needs the end, not many points in the window. A
        # curve too noisy to read a plateau from, or flat because training degrades, is not
        # "saturated" (shortening training is not the advice there).
        blocked = improving, over, noise, found.get("curves.train_loss_rising")
        if dev.x[-1] <= 1.0 - self.cfg.late_window:
            assert late is not None
            skipped.append(("curves.saturated", *late))
        elif all(b is None for b in blocked):
            ran.append("curves.saturated")
            if (sat := self.saturated(dev)) is not None:
                found["curves.saturated"] = sat
        return found, skipped, ran


_TRAIN_FALLING = 0.01
"""Ours. The training loss 'kept falling' after the dev best when it fell by more than 1%."""

_ENABLE_TRAIN = (
    "log the training loss as train_loss, or name the metric that holds it in the "
    "train_metric analysis setting"
)
_DEV_CODES = (
    "curves.overfitting",
    "curves.still_improving",
    "curves.saturated",
    "curves.late_noise",
)


def _rel(delta: float, ref: float) -> float:
    return float(delta / max(abs(ref), float(np.finfo(np.float64).tiny)))


def curve_findings(
    snap: StudySnapshot, cfg: AnalysisConfig
) -> tuple[list[CurveCheck], list[Finding]]:
    """Curve checks on :func:`checked_trials`, and :mod:`learning checks <._learning>` on every
    completed trial: one finding per code, listing the affected trials.

    Returns the checked trials with the codes that fired on each, and the findings:
    ``curves.skipped`` (info) names every check that could not run, why, and what to log;
    ``curves.ok`` when none fired on any trial and at least one check ran.
    """
    checks = checked_trials(snap, cfg)
    learning = learning_checks(snap, cfg)
    if not checks and not learning.findings and not learning.skipped:
        return [], []
    by_number = {t.number: t for t in snap.trials}
    metric = snap.spec.objective.metric
    train_name = snap.train_metric(cfg.train_metric)
    max_steps = snap.spec.budget.max_train_steps
    judge = _Judge(cfg, max_steps)
    hits: dict[str, list[dict[str, Any]]] = {code: [] for code in CURVE_CODES}
    ran: dict[str, list[int]] = {code: [] for code in CURVE_CODES}
    skipped: list[dict[str, Any]] = []
    out_checks: list[CurveCheck] = []
    for check in checks:
        trial = by_number[check.trial]
        raw = {metric: snap.curve(trial, metric)}
        if train_name:
            raw[train_name] = snap.curve(trial, train_name)
        found, skips, codes_ran = judge.judge(raw, metric, train_name, snap.sign)
        for code in codes_ran:
            ran[code].append(trial.number)
        for code, reason, enable in skips:
            skipped.append(dict(check=code, trial=trial.number, reason=reason, enable=enable))
        for code, evidence in found.items():
            hits[code].append({"trial": trial.number, **evidence})
        codes = (*found, *learning.hits.get(trial.number, ()))
        out_checks.append(dataclasses.replace(check, codes=codes))
    base: dict[str, Any] = dict(metric=metric, train_metric=train_name)
    base["checked"] = [c.trial for c in checks]
    base.update(max_train_steps=max_steps, smoothing=cfg.curve_smoothing)
    base.update(noise_z=cfg.curve_noise_z, min_points=MIN_POINTS)
    base.update(min_window_points=MIN_WINDOW_POINTS, defaults="ours")
    findings = [_finding(code, e, snap, cfg, base, hits) for code, e in hits.items() if e]
    findings += learning.findings
    skipped += learning.skipped
    if skipped:
        findings.append(_skipped(skipped, base))
    ran_any: dict[str, list[int]] = {**ran, **{c: list(ns) for c, ns in learning.ran.items()}}
    quiet = all(f.code == "curves.skipped" for f in findings)
    if quiet and any(ran[code] for code in CURVE_CODES):
        findings.append(_ok(ran_any, base, bool(skipped)))
    return out_checks, findings


def _ok(ran: Mapping[str, list[int]], base: dict[str, Any], skipped: bool) -> Finding:
    parts = [f"{_NAMES[code]} on {_list(list(ns))}" for code, ns in ran.items() if ns]
    text = f"No curve check fired. The checks that ran: {'; '.join(parts)}"
    text += " (those that could not run are in curves.skipped)." if skipped else "."
    action = "Nothing to change in the training length or regularization for now."
    judged = sorted({n for code in CURVE_CODES for n in ran.get(code, ())})
    ok = {**base, "judged": judged, "ran": {code: list(ns) for code, ns in ran.items()}}
    return Finding("curves.ok", "info", text, action, _EXTRACT, ok, base["metric"])


def _skipped(items: list[dict[str, Any]], base: dict[str, Any]) -> Finding:
    # One line per reason and advice: which checks, on which trials.
    groups: dict[tuple[str, str], dict[str, list[Any]]] = {}
    for e in items:
        g = groups.setdefault((e["reason"], e["enable"]), {"checks": [], "trials": []})
        if e["check"] not in g["checks"]:
            g["checks"].append(e["check"])
        if e["trial"] not in g["trials"]:
            g["trials"].append(e["trial"])
    lines = [
        f"{', '.join(_NAMES.get(c, c) for c in g['checks'])} on {trial_list(g['trials'])} "
        f"({reason}): {enable}"
        for (reason, enable), g in groups.items()
    ]
    message = f"Some curve checks could not run: {'; '.join(lines)}."
    action = "Log what each line asks for, then run the study (or the next one) again."
    evidence = {**base, "skipped": items}
    return Finding("curves.skipped", "info", message, action, _EXTRACT, evidence, base["metric"])


def _list(numbers: list[int]) -> str:
    return trial_list(numbers)


_NAMES = {
    "curves.overfitting": "overfitting",
    "curves.still_improving": "still improving",
    "curves.saturated": "saturation",
    "curves.late_noise": "late noise",
    "curves.train_loss_rising": "training loss rising",
    "curves.diverged (non-finite)": "non-finite values",
    "curves.diverged (training loss)": "divergence of the training loss",
    "curves.no_learning": "no learning (chance level)",
}

_SMOOTHED = "smoothed: moving mean over {smoothing:.0%} of training"
_SIGNIFICANT = (
    "a trend counts when a line fitted to the raw points has t above the one-sided "
    "{noise_z:g}-sigma level"
)

# code -> (severity, section, headline, one trial, limit, action, settings used)
_TEXTS: dict[str, tuple[Severity, str, str, str, str, str, tuple[str, ...]]] = {
    "curves.overfitting": (
        "warning",
        _EXTRACT,
        "{metric} turns worse after its best (smoothed) and keeps a worsening trend in {head}",
        "#{trial} (best {best_smoothed:.4g} at step {best_step}, ends at {final_smoothed:.4g}: "
        "{relative_rise:.1%} worse; a line fitted to the {trend_points} evaluations from step "
        "{best_step} on changes by {trend_change:+.3g}, t = {trend_t:.1f} > {t_critical:.1f}"
        "{kept})",
        "tolerance {overfit_tolerance:.0%}; " + _SMOOTHED + "; " + _SIGNIFICANT + "; ours",
        "Add or strengthen regularization (dropout, weight decay, data augmentation), tuned as "
        "nuisance hyperparameters, in the next study.",
        ("overfit_tolerance", "improving_threshold"),
    ),
    "curves.late_noise": (
        "warning",
        _EXTRACT,
        "{metric} is noisy from step to step in the last {late_window:.0%} of training in "
        "{head}: the median absolute deviation of its step-to-step changes (a steady trend "
        "removed) is a large share of its median level",
        "#{trial} ({noise_ratio:.1%}: {median_abs_change:.3g} against {median_level:.3g}, "
        "{points} evaluations)",
        "threshold {late_noise_threshold:.0%}, ours",
        "Reduce the noise before trusting small differences: a bigger batch, more validation "
        "data, learning-rate decay, or Polyak averaging of the weights.",
        ("late_window", "late_noise_threshold"),
    ),
    "curves.still_improving": (
        "warning",
        _HOW_LONG,
        "{metric} is still improving over the last {late_window:.0%} of training in {head}: "
        "the mean of its evaluations there beats the mean over the {late_window:.0%} before",
        "#{trial} (mean {late_mean:.4g} over the {late_points} evaluations from step "
        "{window_start_step}, against {before_mean:.4g} over the {before_points} from step "
        "{before_start_step}: {relative_gain:.1%} better, z = {z:.1f} > {improving_z:g} with "
        "noise sd {noise_sd:.3g} from step-to-step changes; best point at step {best_step})",
        "thresholds {improving_threshold:.0%} and z {improving_z:g} (one-sided), ours",
        "Training is compute-bound: raise max_train_steps in the next study (never inside this "
        "one), or try another learning-rate schedule.",
        ("late_window", "improving_threshold", "improving_z"),
    ),
    "curves.saturated": (
        "info",
        _HOW_LONG,
        "{metric} (smoothed) stays within a band of its best, no wider than its noise, from "
        "before {saturation_fraction:.0%} of training to the end in {head}",
        "#{trial} (from step {reached_step}, {reached_fraction:.0%} of max_train_steps, to the "
        "end every smoothed point is within {band:.3g} of its best {best_smoothed:.4g} at step "
        "{best_step}; the worst of them {worst_after_smoothed:.4g} at step {worst_after_step}; "
        "band = the widest of {saturation_tolerance:.0%} of the best ({relative_band:.3g}), "
        "{saturation_noise_k:g} noise sd ({noise_sd:.3g}, step-to-step, from "
        "{saturation_fraction:.0%} of training) and {saturation_resolution_k:g} x the smallest "
        "step between evaluations ({resolution:.3g}, at most 25% of the best in all))",
        _SMOOTHED + "; tolerance, band multiples and fraction are ours",
        "The later steps improve these trials by no more than their noise: a shorter "
        "max_train_steps in the next study (with a decaying schedule, re-tuned for the new "
        "length) would spend that compute on more trials.",
        (
            "saturation_tolerance",
            "saturation_fraction",
            "saturation_noise_k",
            "saturation_resolution_k",
        ),
    ),
    "curves.train_loss_rising": (
        "warning",
        _EXTRACT,
        "{train_metric} rises after its minimum and over the last {late_window:.0%} of training "
        "in {head}",
        "#{trial} (smoothed: min {min_smoothed:.4g} at step {min_step}, "
        "{window_start_smoothed:.4g} at step {window_start_step}, ends at {final_smoothed:.4g}: "
        "{relative_rise:.1%} above the min; a line fitted to the {trend_points} points from the "
        "min on changes by {trend_change:+.3g}, "
        "t = {trend_t:.1f} > {t_critical:.1f})",
        "threshold {train_rise_threshold:.0%}; " + _SMOOTHED + "; " + _SIGNIFICANT + "; ours",
        "Training loss should not go up: look for a bug (data pipeline, loss, labels, optimizer "
        "state) or a learning rate too high for this configuration (warmup, clipping, lower LR).",
        ("late_window", "train_rise_threshold"),
    ),
}


def _item(template: str, e: dict[str, Any], words: dict[str, Any]) -> str:
    kept = ""
    if e.get("train_kept_falling"):
        kept = (
            f", while {words['train_metric']} (smoothed) fell a further "
            f"{e['train_relative_drop']:.1%}"
        )
    return template.format(**{**words, **e}, kept=kept)


def _finding(
    code: str,
    items: list[dict[str, Any]],
    snap: StudySnapshot,
    cfg: AnalysisConfig,
    base: dict[str, Any],
    hits: Mapping[str, list[dict[str, Any]]],
) -> Finding:
    severity, section, head, item, limit, action, used = _TEXTS[code]
    settings = {name: getattr(cfg, name) for name in used}
    words = {**base, **settings, "head": f"{len(items)} of {len(base['checked'])} checked trials"}
    subject = base["train_metric"] if code == "curves.train_loss_rising" else base["metric"]
    evidence = {**base, **settings, "trials": items}
    action = action.format(**words)
    if code == "curves.overfitting":
        sci = [n for n in snap.spec.scientific_space().names if _REGULARIZERS.search(n.lower())]
        evidence["scientific_regularizers"] = sci
        if sci:
            action = (
                f"Regularization ({', '.join(sci)}) is this study's scientific question: compare "
                "its values as they are rather than adding other regularizers."
            )
        action += " scitune already scores each trial at its best checkpoint."
    trials = "; ".join(_item(item, e, words) for e in items)
    message = f"{head.format(**words)}: {trials}; {limit.format(**words)}."
    if code == "curves.saturated" and (improving := hits.get("curves.still_improving")):
        # Opposite advice on other trials of the same study: say how the two relate.
        others = _list([e["trial"] for e in improving])
        message += (
            f" Other checked trials ({others}) are still improving at the end "
            "(curves.still_improving): shorten training only if the configurations you keep "
            "are the saturated ones."
        )
        evidence["still_improving"] = [e["trial"] for e in improving]
    return Finding(code, severity, message, action, section, evidence, subject)
