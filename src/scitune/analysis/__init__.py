"""The playbook's checks as pure functions of a study snapshot (analysis computes, renderers draw).

``analyze(StudySnapshot.from_study(study))`` returns an :class:`Analysis`: findings (stable
code, severity, evidence, action, playbook section) and the data every plot draws.
"""

from __future__ import annotations

from scitune.analysis._config import AnalysisConfig
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
    ScoreSpikes,
    SpikeCheck,
)
from scitune.analysis._snapshot import StudySnapshot


def analyze(snapshot: StudySnapshot, config: AnalysisConfig | None = None) -> Analysis:
    """Run the playbook's checks on a snapshot; see :func:`scitune.analysis._analyze.analyze`."""
    from scitune.analysis._analyze import analyze as run

    return run(snapshot, config)

__all__ = [
    "Analysis",
    "AnalysisConfig",
    "AxisPoint",
    "AxisResult",
    "BestOfK",
    "BestStepSummary",
    "CurveCheck",
    "Finding",
    "GradNormSummary",
    "IsolationGroup",
    "IsolationResult",
    "ScoreSpikes",
    "SpikeCheck",
    "StudySnapshot",
    "analyze",
]
