"""Which logged metric plays which role: declared in the study's ``[metrics]``, else guessed.

Every check and every figure that reads a training loss, a gradient norm, a learning rate or a
clipping threshold asks :func:`role_metric` (or :meth:`StudySnapshot.metric_for`), so they all
read the same curve. A guess takes the first conventional name logged as a curve: a metric no
trial logged at :data:`MIN_CURVE_POINTS` points or more is a summary (Hugging Face's Trainer
logs one end-of-training ``train_loss`` beside its ``loss`` curve) and loses to any real curve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from scitune.analysis._snapshot import StudySnapshot

__all__ = ["GUESSES", "MIN_CURVE_POINTS", "Role", "role_metric"]

Role = Literal["train_loss", "grad_norm", "learning_rate", "max_grad_norm"]
"""The roles ``[metrics]`` can declare (the fields of :class:`scitune.spec.MetricsSpec`)."""

GUESSES: Mapping[Role, tuple[str, ...]] = {
    "train_loss": ("train_loss", "loss", "training_loss"),
    "grad_norm": ("grad_norm",),
    "learning_rate": ("lr", "learning_rate"),
    "max_grad_norm": ("max_grad_norm", "clip_norm"),
}
"""Names tried, in order, for a role the study does not declare."""

MIN_CURVE_POINTS = 3
"""Ours. A metric that no trial logged at this many points is a summary, not a curve: a guess
takes it only when no candidate name is a curve."""


def role_metric(snap: StudySnapshot, role: Role, *, override: str | None = None) -> str | None:
    """The metric that plays ``role`` in ``snap``: ``override``, else declared, else guessed.

    ``override`` is an analysis setting (``AnalysisConfig.train_metric``...); the declaration
    is the study's ``[metrics]`` table. Either is returned even when no trial logs it, so that
    what reads it can say so. A guess is the first name of :data:`GUESSES` logged as a curve
    (see :data:`MIN_CURVE_POINTS`), else the first logged at all, never the objective; ``None``
    when none is logged.

    Example:
        >>> snap.metric_for("train_loss")  # doctest: +SKIP
        'loss'
    """
    if role not in GUESSES:
        raise ValueError(f"role must be one of {', '.join(get_args(Role))}, got {role!r}.")
    if override:
        return override
    declared: str | None = getattr(snap.spec.metrics, role)
    if declared:
        return declared
    points: dict[str, int] = {}
    for per_trial in snap.curves.values():
        for name, curve in per_trial.items():
            points[name] = max(points.get(name, 0), len(curve.steps))
    logged = [n for n in GUESSES[role] if n in points and n != snap.spec.objective.metric]
    curves = [n for n in logged if points[n] >= MIN_CURVE_POINTS]
    chosen = curves or logged
    return chosen[0] if chosen else None
