"""Findings on variance (§6): how noisy retrains are, and how much the winner owes to the draw.

The playbook says to adopt a change only when it beats the retrain variance, but gives no
number of reruns, no test and no threshold; every number here is scitune's ("ours"), named in
:class:`VarianceSettings` and in each finding's evidence.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scitune.analysis import Finding, StudySnapshot
from scitune.evidence._variance import ConfigVariance, StudyVariance, pooled_sd

__all__ = ["SECTION", "VarianceSettings", "separation", "variance_findings"]

SECTION = "§6 Adopting a change"


@dataclass(frozen=True)
class VarianceSettings:
    """The variance checks' thresholds; the attribute names are the ones read from a config."""

    variance_winner_share: float = 0.9
    """Ours. A winner that wins less than this share of bootstrap redraws depends on the draw
    (at 0.5, a 54/46 split would read as settled)."""
    variance_separable_se: float = 2.0
    """Ours. The best two configurations are separable when their means differ by more than
    this many combined standard errors."""
    reseed_top: int = 3
    """Ours. How many of the best configurations the advice says to reseed."""
    reseed_seeds: int = 3
    """Ours. How many new seeds per configuration the advice says to run."""


def variance_findings(
    snapshot: StudySnapshot,
    variances: Sequence[ConfigVariance],
    study_var: StudyVariance | None,
    cfg_like: object = None,
) -> list[Finding]:
    """The §6 variance findings of a study, from its families and its bootstrap.

    Codes: ``variance.trial`` (retrain sd measured) or ``variance.unmeasured`` (nothing
    reseeded yet), ``variance.best_not_separable`` and ``variance.study``.

    Args:
        variances: from :func:`~scitune.evidence.config_variance` (best mean first).
        study_var: from :func:`~scitune.evidence.study_variance`, or ``None`` to skip that check.
        cfg_like: a :class:`VarianceSettings`, or any object (an ``AnalysisConfig``) carrying
            some of its attribute names; the missing ones keep their defaults.

    Example:
        >>> families = config_variance(snapshot)  # doctest: +SKIP
        >>> study = study_variance(snapshot, noise_sd=pooled_sd(families))  # doctest: +SKIP
        >>> [f.code for f in variance_findings(snapshot, families, study)]  # doctest: +SKIP
        ['variance.trial', 'variance.study']
    """
    cfg = _settings(cfg_like)
    findings: list[Finding] = []
    sd = pooled_sd(variances)
    if sd is None:
        if variances:
            findings.append(_unmeasured(snapshot, cfg))
    else:
        findings.append(_trial(snapshot, variances, sd))
        separable = _not_separable(snapshot, variances, sd, cfg)
        if separable is not None:
            findings.append(separable)
    study = _study(study_var, cfg) if study_var is not None else None
    if study is not None:
        findings.append(study)
    return findings


def _settings(cfg_like: object) -> VarianceSettings:
    if isinstance(cfg_like, VarianceSettings):
        return cfg_like
    defaults = VarianceSettings()
    return VarianceSettings(
        **{
            f.name: getattr(cfg_like, f.name, getattr(defaults, f.name))
            for f in dataclasses.fields(VarianceSettings)
        }
    )


def _noise_floor(sd: float, n: int) -> float:
    """The difference between two means of ``n`` runs each that plain noise reaches (~2 se)."""
    return 2 * math.sqrt(2) * sd / math.sqrt(n)


def _trial(snapshot: StudySnapshot, variances: Sequence[ConfigVariance], sd: float) -> Finding:
    metric = snapshot.spec.objective.metric
    measured = [v for v in variances if v.n >= 2]
    runs = sum(v.n for v in measured)
    typical = max(2, round(statistics.median(v.n for v in measured)))
    floors = {1: _noise_floor(sd, 1), typical: _noise_floor(sd, typical)}
    per_n = ", ".join(
        f"{_fmt(f)} for {n} run{'s' if n != 1 else ''} per side" for n, f in floors.items()
    )
    return Finding(
        "variance.trial",
        "info",
        f"Retrain sd of {metric} is {_fmt(sd)} (pooled over {len(measured)} configuration"
        f"{'s' if len(measured) != 1 else ''}, {runs} runs); differences under "
        f"~2·sqrt(2)·sd/sqrt(n) are noise: {per_n}.",
        "Read any gap between trials against this noise; adopt a change only when "
        "`scitune compare` finds it better across seeds. Re-measure after pipeline changes.",
        SECTION,
        {
            "metric": metric,
            "pooled_sd": sd,
            "configurations": len(measured),
            "runs": runs,
            "noise_floor": {str(n): f for n, f in floors.items()},
            "families": [_family(v) for v in measured],
        },
        subject=metric,
    )


def _not_separable(
    snapshot: StudySnapshot,
    variances: Sequence[ConfigVariance],
    sd: float,
    cfg: VarianceSettings,
) -> Finding | None:
    if len(variances) < 2:
        return None
    first, second = variances[0], variances[1]
    gap, combined = separation(first, second, sd)
    bound = cfg.variance_separable_se * combined
    if gap >= bound:
        return None
    metric = snapshot.spec.objective.metric
    return Finding(
        "variance.best_not_separable",
        "warning",
        f"The best two configurations, {_describe(first)} and {_describe(second)}, differ by "
        f"{_fmt(gap)} {metric}, less than {_fmt(cfg.variance_separable_se)} combined standard "
        f"errors ({_fmt(bound)}; ours): which of them is better is not yet known.",
        f"Reseed both (`scitune reseed {snapshot.spec.name} --top 2 --seeds "
        f"{cfg.reseed_seeds}`) and `scitune compare` them; if they stay inseparable, keep the "
        "simpler or cheaper one.",
        SECTION,
        {
            "metric": metric,
            "first": _family(first),
            "second": _family(second),
            "gap": gap,
            "combined_se": combined,
            "variance_separable_se": cfg.variance_separable_se,
            "pooled_sd": sd,
            "defaults": "ours",
        },
        subject=f"#{first.trial} vs #{second.trial}",
    )


def separation(
    first: ConfigVariance, second: ConfigVariance, sd: float
) -> tuple[float, float]:
    """The gap between two configurations' means and its combined standard error.

    A configuration run once borrows the study's pooled retrain ``sd`` for its standard error.
    """
    se1 = first.se if first.se is not None else sd / math.sqrt(first.n)
    se2 = second.se if second.se is not None else sd / math.sqrt(second.n)
    return abs(first.mean - second.mean), math.sqrt(se1 * se1 + se2 * se2)


def _unmeasured(snapshot: StudySnapshot, cfg: VarianceSettings) -> Finding:
    command = (
        f"scitune reseed {snapshot.spec.name} --top {cfg.reseed_top} --seeds {cfg.reseed_seeds}"
    )
    return Finding(
        "variance.unmeasured",
        "info",
        "No configuration has been reseeded, so the variance between retrains is unknown and no "
        "gap between trials can be told from noise.",
        f"Run `{command}` to measure trial variance before adopting anything (§6).",
        SECTION,
        {"reseed_top": cfg.reseed_top, "reseed_seeds": cfg.reseed_seeds, "defaults": "ours"},
    )


def _study(sv: StudyVariance, cfg: VarianceSettings) -> Finding | None:
    threshold = cfg.variance_winner_share
    parts: list[str] = []
    shares: dict[str, float] = {}
    if sv.noise_sd is not None:
        others = [f"#{n} {s:.0%}" for n, s in sv.winner_share.items() if n != sv.winner][:3]
        then = f" (next: {', '.join(others)})" if others else ""
        parts.append(
            f"Drawn again and retrained (sd {_fmt(sv.noise_sd)}), the winner #{sv.winner} wins "
            f"{_share(sv.top_share, threshold)} of the redraws that include it{then}."
        )
        shares[f"#{sv.winner}"] = sv.top_share
    else:
        parts.append(
            "Retrain noise is not measured, so the redraws vary only which trials were drawn."
        )
    for key, label in sv.winner_labels.items():
        per_value = sv.scientific_share.get(key, {})
        if label not in per_value:
            continue
        rest = ", ".join(f"{k}: {v:.0%}" for k, v in per_value.items() if k != label)
        parts.append(
            f"The winner's {key}={label} is best in {_share(per_value[label], threshold)} of the "
            "redraws"
            f"{f' ({rest})' if rest else ''}."
        )
        shares[f"{key}={label}"] = per_value[label]
    if not shares:
        return None
    weak = sorted(k for k, v in shares.items() if v < threshold)
    judged = ", ".join(f"{k} {_share(shares[k], threshold)}" for k in (weak or shares))
    parts.append(
        f"Below {threshold:.0%} of the redraws (ours), the choice depends on the draw: {judged}."
        if weak
        else f"Each at or above {threshold:.0%} of the redraws (ours: {judged}): the choice "
        "does not hinge on the draw."
    )
    action = (
        "Do not read the winner as settled: add trials to the study, reseed the leading "
        "configurations and `scitune compare` them."
        if weak
        else "The winner is robust to the draw of the study; its lead must still beat the "
        "retrain variance before adopting it (`scitune compare`)."
    )
    evidence: dict[str, Any] = {
        "winner": sv.winner,
        "top_share": sv.top_share,
        "samples": sv.samples,
        "n_trials": sv.n_trials,
        "noise_sd": sv.noise_sd,
        "judged": shares,
        "winner_share": dict(sv.winner_share),
        "scientific_share": {k: dict(v) for k, v in sv.scientific_share.items()},
        "variance_winner_share": threshold,
        "defaults": "ours",
    }
    return Finding(
        "variance.study",
        "warning" if weak else "info",
        f"Bootstrap of the study ({sv.samples} redraws of its {sv.n_trials} design trials). "
        + " ".join(parts),
        action,
        SECTION,
        evidence,
        subject=f"#{sv.winner}",
    )


def _share(value: float, threshold: float) -> str:
    """A share in whole percent, one decimal where rounding would put it across the threshold."""
    text = f"{value:.0%}"
    if (value < threshold) != (float(text[:-1]) / 100 < threshold):
        text = f"{value:.1%}"
    return text


def _family(v: ConfigVariance) -> dict[str, Any]:
    return {"trial": v.trial, "n": v.n, "mean": v.mean, "std": v.std, "se": v.se}


def _describe(v: ConfigVariance) -> str:
    spread = f" ± {_fmt(v.se)}" if v.se is not None else ""
    return f"#{v.trial} ({_fmt(v.mean)}{spread} over {v.n} run{'s' if v.n != 1 else ''})"


def _fmt(x: float) -> str:
    return f"{x:.3g}"
