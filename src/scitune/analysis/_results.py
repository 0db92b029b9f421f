"""Typed results of the playbook's checks: what the terminal, ``--json``, plots and report draw.

Analysis computes, renderers draw: every check is a pure function of a :class:`StudySnapshot`
returning these frozen records. Nothing here knows about rich, plotly or HTML.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from scitune.space import Value

if TYPE_CHECKING:  # evidence builds on analysis: import its types for checking only
    from scitune.evidence import ConfigVariance, StudyVariance

__all__ = [
    "Analysis",
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
    "Severity",
    "SpikeCheck",
    "to_jsonable",
]

Severity = Literal["info", "warning", "critical"]
SEVERITY_ORDER: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    """The result of one check on one subject (an axis, a trial, a metric, the study).

    ``code`` is stable (``boundary.near_edge``, ``curves.overfitting``...): tools and tests key on
    it. ``evidence`` holds the numbers the check used, JSON-able. ``section`` cites the playbook
    (``"§5 Extracting insight"``); ``action`` says what to do next.
    """

    code: str
    severity: Severity
    message: str
    action: str
    section: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    subject: str | None = None


@dataclass(frozen=True)
class AxisPoint:
    """One trial on one hyperparameter axis."""

    trial: int  # trial number
    value: Value
    unit: float  # position in the sampler's transformed coordinates, 0..1
    score: float | None  # None unless COMPLETE with a finite score
    state: str  # TrialState value
    ranked: bool  # COMPLETE and satisfying every constraint


@dataclass(frozen=True)
class AxisResult:
    """A hyperparameter that varied: every trial's position and score on it, and the edge check.

    ``key`` is the namespaced axis key (``learning_rate[optimizer=adam]``); ``cell`` is the
    per-value design cell the points come from when the axis was checked per cell (``None``:
    all trials).
    """

    key: str
    name: str
    role: Literal["scientific", "nuisance"]
    kind: Literal["float", "int", "choice"]
    scale: Literal["linear", "log", "reverse_log"] | None
    low: float | None
    high: float | None
    choices: tuple[Value, ...] | None
    points: tuple[AxisPoint, ...]
    near_edge: Literal["low", "high"] | None = None
    margin: float = 0.0  # the boundary band, in unit coordinates, shaded on plots
    cell: str | None = None


@dataclass(frozen=True)
class IsolationGroup:
    """One value (or bucket) of a scientific hyperparameter, after the nuisance ones are tuned."""

    label: str
    value: Value | None  # the value, or None for a bucket of a continuous axis
    low: float | None  # bucket edges for a continuous axis
    high: float | None
    n_trials: int
    n_complete: int
    n_infeasible: int
    best_trial: int | None
    best_score: float | None
    scores: tuple[float, ...]  # every ranked score in the group (strip plot)
    best_at_boundary: tuple[str, ...] = ()  # nuisance axes where the best trial sits at an edge


@dataclass(frozen=True)
class IsolationResult:
    """The isolation plot's data for one scientific hyperparameter, with a fairness verdict."""

    name: str
    groups: tuple[IsolationGroup, ...]
    verdict: Literal["fair", "thin"]
    reasons: tuple[str, ...] = ()
    best_label: str | None = None


@dataclass(frozen=True)
class BestOfK:
    """Bootstrap of the best score among k trials (the playbook's figure 3)."""

    k: tuple[int, ...]
    median: tuple[float, ...]
    q25: tuple[float, ...]
    q75: tuple[float, ...]
    observed_best: float
    n: int


@dataclass(frozen=True)
class CurveCheck:
    """A trial whose curves were checked, why it was chosen, and the codes that fired on it."""

    trial: int
    why: str  # "best 3", "best with dropout=0.1"
    codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BestStepSummary:
    """Where in training each trial reached its best score (fraction of max_train_steps)."""

    fractions: tuple[tuple[int, float], ...]  # (trial number, best step / max_train_steps)
    early_share: float  # share of trials with the best step in the first 10%
    late_share: float  # share in the last 25%


@dataclass(frozen=True)
class GradNormSummary:
    """Gradient norms of the checked trials: spikes and what clipping would do."""

    metric: str
    threshold: float  # the clipping threshold at the configured percentile (90th)
    percentile: float
    clipped_fraction: Mapping[int, float]  # trial number -> share of logged steps above it
    spikes: Mapping[int, tuple[int, ...]]  # trial number -> steps with a spike


@dataclass(frozen=True)
class SpikeCheck:
    """One ranked trial's raw best beside its smoothed best, and whether the raw one is a spike.

    Values are in the objective's units; ``neighbours`` are the ``(step, value)`` evaluations
    around the raw best that a spike must stand clear of; ``noise`` is the curve's late noise
    (one evaluation's standard deviation; ``None`` when the curve is too short to judge).
    """

    trial: int
    rank: int  # among ranked trials, 1 = best
    raw_best: float
    raw_step: int
    smoothed_best: float
    smoothed_step: int
    smoothed_rank: int  # the rank the smoothed best would get among the smoothed bests
    neighbours: tuple[tuple[int, float], ...] = ()
    noise: float | None = None
    spike: bool = False


@dataclass(frozen=True)
class ScoreSpikes:
    """Lucky evaluations: the ranked trials whose score is one evaluation far from its
    neighbours, and the raw and smoothed bests of the trials whose curves were checked."""

    select: str  # the study's [objective] select; spikes are judged only for "best"
    smoothing: int  # evaluations in the moving mean of the smoothed bests
    checked: tuple[SpikeCheck, ...]  # the curve-checked trials (best few, best per value)
    spiky: tuple[int, ...] = ()  # every ranked trial whose score is a spike, best first


@dataclass(frozen=True)
class Analysis:
    """Everything ``scitune analyze`` found, in one record (rendered, never recomputed)."""

    study: str
    goal: str
    metric: str
    direction: Literal["minimize", "maximize"]
    counts: Mapping[str, int]
    findings: tuple[Finding, ...]
    axes: tuple[AxisResult, ...] = ()
    isolation: tuple[IsolationResult, ...] = ()
    best_of_k: BestOfK | None = None
    curve_checks: tuple[CurveCheck, ...] = ()
    best_steps: BestStepSummary | None = None
    grad_norm: GradNormSummary | None = None
    spikes: ScoreSpikes | None = None  # lucky evaluations among the ranked trials
    config_variance: tuple[ConfigVariance, ...] = ()  # configurations with their reruns
    study_variance: StudyVariance | None = None  # how much the winner depends on the draw
    settings: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = to_jsonable(self)
        assert isinstance(data, dict)
        return data


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, mappings and tuples as JSON values; non-finite floats as strings."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):  # NumPy scalars
        return to_jsonable(obj.item())
    return obj
