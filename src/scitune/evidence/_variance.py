"""Trial variance (reruns of one configuration) and study variance (redraws of the search), §6.

The playbook names three sources of variance: trial (same configuration, new seeds), study (the
same search drawn again) and data. Trial variance comes from ``scitune reseed``: a rerun's
``parent_number`` names the trial whose configuration it repeats, and together they form a
family. Study variance is estimated by bootstrapping the design trials: how often would the
observed winner still win if the study had drawn a different set of configurations?
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from scitune.analysis import StudySnapshot
from scitune.errors import EvidenceError
from scitune.ranking import Configuration
from scitune.space import Axis, ChoiceDomain, FloatDomain, Value

__all__ = [
    "ConfigVariance",
    "StudyVariance",
    "config_variance",
    "pooled_sd",
    "study_variance",
]

IntArray = npt.NDArray[np.int64]


#: One configuration over its runs: the one ranking's record (see :mod:`scitune.ranking`).
ConfigVariance = Configuration


@dataclass(frozen=True)
class StudyVariance:
    """How much the winner depends on the draw of the study (bootstrap of its design trials).

    ``winner_share`` maps an original trial number to the share it wins of the redraws that
    include it (best first; trials that never win are left out); ``top_share`` is the observed
    winner's (``winner``). ``scientific_share`` maps each scientific hyperparameter to ``{value
    label: share of all redraws}``: how often that value's best trial is the overall best
    (continuous axes in equal-width buckets of the sampler's coordinates; a conditional axis's
    shares sum to less than 1 when winners lack it). ``n_trials`` counts the design trials
    resampled; ``noise_sd`` is the retrain sd added to every drawn score (``None``: none);
    ``winner_labels`` the winner's label on each scientific axis it has, as in
    ``scientific_share``.
    """

    samples: int
    winner_share: Mapping[int, float]
    scientific_share: Mapping[str, Mapping[str, float]]
    top_share: float
    winner: int
    n_trials: int
    noise_sd: float | None = None
    winner_labels: Mapping[str, str] = field(default_factory=dict)


def config_variance(snapshot: StudySnapshot) -> list[ConfigVariance]:
    """Every ranked configuration, best mean first (ties: lower number): the one ranking.

    A configuration is a design trial (``parent_number`` None) plus every trial that reruns it;
    its runs are the COMPLETE ones with a finite score.

    Example:
        >>> [(v.trial, v.n) for v in config_variance(snapshot)]  # doctest: +SKIP
        [(7, 4), (2, 4), (11, 1)]
    """
    return [c for c in snapshot.configurations() if c.rank is not None]


def pooled_sd(variances: Sequence[ConfigVariance]) -> float | None:
    """The retrain sd pooled over configurations: ``sqrt(sum((n-1) s^2) / sum(n-1))``.

    ``None`` when no configuration has two runs.
    """
    measured = [(v.n - 1, v.std) for v in variances if v.n >= 2 and v.std is not None]
    dof = sum(d for d, _ in measured)
    if not dof:
        return None
    return math.sqrt(sum(d * s * s for d, s in measured) / dof)


def study_variance(
    snapshot: StudySnapshot,
    *,
    samples: int = 1000,
    seed: int = 0,
    noise_sd: float | None = None,
    buckets: int = 5,
) -> StudyVariance | None:
    """Redraw the study ``samples`` times from its own trials and count who wins each redraw.

    A redraw resamples the design trials (``parent_number`` None; reseeds are left out) with
    replacement within their design cell (``slot``), so every scientific value keeps its count
    of trials. With ``noise_sd`` (the pooled retrain sd, :func:`pooled_sd`) every drawn copy's
    score also moves by a normal draw of that sd: the study drawn again *and* trained again.
    Trials that are not ranked never win.

    A trial can only win the redraws that draw it (about 63% of them in a cell of any size),
    so ``winner_share`` counts each trial's wins among the redraws that include it. Without
    ``noise_sd`` the observed winner wins every redraw that draws it (``top_share`` is 1): only
    ``scientific_share`` then says something, and it is the study-level question anyway (would
    a redrawn study still pick the same value?).

    Args:
        samples: bootstrap redraws.
        seed: seed of the redraws (the result is reproducible).
        noise_sd: retrain sd added to every drawn score; ``None``: scores as observed.
        buckets: buckets of a continuous scientific axis for ``scientific_share`` (as the
            isolation plot's ``isolation_buckets``).

    Returns:
        ``None`` when the study has fewer than two design trials, or none ranked.

    Raises:
        EvidenceError: ``samples`` or ``buckets`` below 1, or a negative ``noise_sd``.
    """
    if samples < 1 or buckets < 1:
        raise EvidenceError(
            f"samples and buckets must be >= 1, got samples={samples}, buckets={buckets}."
        )
    if noise_sd is not None and not (math.isfinite(noise_sd) and noise_sd >= 0):
        raise EvidenceError(f"noise_sd must be a finite number >= 0, got {noise_sd!r}.")
    design = snapshot.design()
    # Each design trial is scored as its configuration is ranked (the mean over its runs), so
    # the bootstrap's winner is the one ranking's winner.
    mean_of = {c.trial: c.mean for c in config_variance(snapshot)}
    ranked = sorted(
        (t for t in design.trials if t.number in mean_of),
        key=lambda t: (snapshot.sign * mean_of[t.number], t.number),
    )
    if len(design.trials) < 2 or not ranked:
        return None
    never = len(ranked)  # the rank of a trial that cannot win
    rank_of = {t.number: i for i, t in enumerate(ranked)}
    strata: dict[str, list[int]] = {}
    for t in design.trials:
        strata.setdefault(t.slot, []).append(rank_of.get(t.number, never))
    rng = np.random.default_rng(seed)
    # One column per drawn copy: which trial (by rank) it is. Each cell keeps its size.
    drawn: IntArray = np.concatenate(
        [
            np.asarray(ranks, dtype=np.int64)[rng.integers(0, len(ranks), (samples, len(ranks)))]
            for ranks in strata.values()
        ],
        axis=1,
    )
    rows = np.arange(samples)
    if noise_sd:
        keys = np.array([snapshot.sign * mean_of[t.number] for t in ranked] + [np.inf])
        noisy = keys[drawn] + rng.normal(0.0, noise_sd, drawn.shape)
        best: IntArray = drawn[rows, np.argmin(noisy, axis=1)]
    else:
        best = drawn.min(axis=1)  # rank order already breaks ties by trial number
    included = np.zeros((samples, never + 1), dtype=bool)
    included[rows[:, None], drawn] = True
    wins = np.bincount(best, minlength=never + 1)[:never]
    drawn_in = included[:, :never].sum(axis=0)
    share = np.divide(wins, drawn_in, out=np.zeros(never), where=drawn_in > 0)
    order = sorted(np.flatnonzero(wins).tolist(), key=lambda i: (-share[i], i))
    scientific: dict[str, dict[str, float]] = {}
    winner_labels: dict[str, str] = {}
    for axis in snapshot.spec.scientific_space().axes:
        own = _label(axis, ranked[0].params, buckets)
        if own is not None:
            winner_labels[axis.key] = own
        per_value = dict.fromkeys(_labels(axis, buckets), 0.0)
        for i in np.flatnonzero(wins).tolist():
            label = _label(axis, ranked[i].params, buckets)
            if label is not None:
                per_value[label] = per_value.get(label, 0.0) + float(wins[i]) / samples
        scientific[axis.key] = per_value
    return StudyVariance(
        samples=samples,
        winner_share={ranked[i].number: float(share[i]) for i in order},
        scientific_share=scientific,
        top_share=float(share[0]),
        winner=ranked[0].number,
        n_trials=len(design.trials),
        noise_sd=noise_sd,
        winner_labels=winner_labels,
    )


def _labels(axis: Axis, buckets: int) -> list[str]:
    """Every label of an axis, in order: its values, or its buckets."""
    if isinstance(axis.domain, ChoiceDomain):
        return [_fmt(v) for v in axis.domain.values]
    return [_bucket_label(axis, i, buckets) for i in range(buckets)]


def _label(axis: Axis, params: Mapping[str, Value], buckets: int) -> str | None:
    if axis.name not in params or not axis.is_active(params):
        return None
    value = params[axis.name]
    if isinstance(axis.domain, ChoiceDomain):
        return _fmt(value)
    u = axis.domain.to_unit(value)
    return _bucket_label(axis, min(max(int(u * buckets), 0), buckets - 1), buckets)


def _bucket_label(axis: Axis, i: int, buckets: int) -> str:
    """``[low, high)`` in the axis's values, the last bucket closed (as the isolation plot)."""
    low, high = _value_at(axis, i / buckets), _value_at(axis, (i + 1) / buckets)
    close = "]" if i == buckets - 1 else ")"
    return f"[{_fmt(low)}, {_fmt(high)}{close}"


def _value_at(axis: Axis, u: float) -> float:
    domain = axis.domain
    if isinstance(domain, FloatDomain):
        return domain.from_unit(u)
    assert not isinstance(domain, ChoiceDomain)
    # Integers: the continuous edge between slices, as the isolation plot draws it.
    if domain.scale == "log":
        lo, hi = math.log(domain.low - 0.5), math.log(domain.high + 0.5)
        return math.exp(lo + u * (hi - lo))
    return domain.low - 0.5 + u * (domain.high - domain.low + 1)


def _fmt(x: Value | float) -> str:
    """As the isolation plot labels values: 3 significant digits, integers whole."""
    return f"{x:.3g}" if isinstance(x, float) else str(x)
