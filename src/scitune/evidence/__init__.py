"""Evidence for decisions (§6): retrain variance, study variance and candidate comparisons.

Pure functions of numbers and study snapshots: nothing here reads the store or draws. The
playbook names no test and no number of reruns; scitune's choices are marked "ours".
"""

from __future__ import annotations

from scitune.evidence._compare import Comparison, SampleSummary, compare_samples
from scitune.evidence._findings import VarianceSettings, separation, variance_findings
from scitune.evidence._variance import (
    ConfigVariance,
    StudyVariance,
    config_variance,
    pooled_sd,
    study_variance,
)

__all__ = [
    "Comparison",
    "ConfigVariance",
    "SampleSummary",
    "StudyVariance",
    "VarianceSettings",
    "compare_samples",
    "config_variance",
    "pooled_sd",
    "separation",
    "study_variance",
    "variance_findings",
]
