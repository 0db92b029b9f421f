"""``analyze``: every check of the playbook on one snapshot, in one typed record."""

from __future__ import annotations

import dataclasses

from scitune.analysis._axes import axis_results
from scitune.analysis._best_step import best_step_summary
from scitune.analysis._config import AnalysisConfig
from scitune.analysis._curves import curve_findings
from scitune.analysis._density import density
from scitune.analysis._grad_norm import grad_norm_summary
from scitune.analysis._infeasible import infeasible_findings
from scitune.analysis._isolation import isolation_results
from scitune.analysis._results import SEVERITY_ORDER, Analysis, Finding
from scitune.analysis._snapshot import StudySnapshot
from scitune.analysis._spikes import score_spikes

__all__ = ["analyze"]


def analyze(snapshot: StudySnapshot, config: AnalysisConfig | None = None) -> Analysis:
    """Run the playbook's checks (§5, §8, §9) on a study snapshot.

    Pure: the same snapshot and config give the same analysis (the bootstrap is seeded).

    Example:
        >>> from scitune.study import Study  # doctest: +SKIP
        >>> study = Study.load("study.toml")  # doctest: +SKIP
        >>> result = analyze(StudySnapshot.from_study(study))  # doctest: +SKIP
        >>> [f.code for f in result.findings]  # doctest: +SKIP
        ['boundary.near_edge', 'curves.overfitting', ...]
    """
    cfg = config or AnalysisConfig()
    design = snapshot.design()  # reruns (reseed) would count a configuration several times
    findings: list[Finding] = []
    axes, found = axis_results(design, cfg)
    findings += found
    findings += infeasible_findings(design, cfg, axes)
    # A study whose sampler searches nothing (fixed configurations, as `extend` writes) has no
    # sampling density, no nuisance search to be thin and no search to redraw.
    searched = snapshot.searched()
    best_of_k, found = density(design, cfg) if searched else (None, [])
    findings += found
    isolation, found = isolation_results(design, cfg, axes, searched=searched)
    findings += found
    checks, curve_found = curve_findings(design, cfg)
    findings += curve_found
    best_steps, found = best_step_summary(design, cfg, curve_found)
    findings += found
    grad_norm, found = grad_norm_summary(design, cfg, checks)
    findings += found
    spikes, found = score_spikes(design, cfg, checks)
    findings += found
    # Variance reads the reruns too (§6): evidence builds on analysis, so import it here.
    from scitune.evidence import config_variance, pooled_sd, study_variance, variance_findings

    variances = config_variance(snapshot)
    study_var = (
        study_variance(
            snapshot, samples=cfg.bootstrap_samples, seed=cfg.seed, noise_sd=pooled_sd(variances)
        )
        if searched
        else None
    )
    findings += variance_findings(snapshot, variances, study_var, cfg)

    spec = snapshot.spec
    counts = {state: 0 for state in ("COMPLETE", "INFEASIBLE", "FAILED", "RUNNING", "PENDING")}
    for t in snapshot.trials:
        counts[t.state.value] += 1
    # Worst first; a stable sort keeps each check's own order within a severity.
    findings.sort(key=lambda f: SEVERITY_ORDER[f.severity])
    return Analysis(
        study=spec.name,
        goal=spec.goal,
        metric=spec.objective.metric,
        direction=spec.objective.goal,
        counts=counts,
        findings=tuple(findings),
        axes=tuple(axes),
        isolation=tuple(isolation),
        best_of_k=best_of_k,
        curve_checks=tuple(checks),
        best_steps=best_steps,
        grad_norm=grad_norm,
        spikes=spikes,
        config_variance=tuple(variances),
        study_variance=study_var,
        settings=dataclasses.asdict(cfg),
    )
