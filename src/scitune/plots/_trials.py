"""What figures need to know about trials, read from a snapshot once."""

from __future__ import annotations

from scitune.analysis._snapshot import StudySnapshot
from scitune.space import Value
from scitune.storage import FrozenTrial

__all__ = ["by_number", "trial_params"]


def trial_params(snapshot: StudySnapshot) -> dict[int, dict[str, Value]]:
    """Trial number -> the parameters that vary in the study (fixed ones left out).

    Fixed hyperparameters are the same for every trial; the report lists them once.

    Example:
        >>> axis_figure(axis, metric="dev_error", goal="minimize",
        ...             params=trial_params(snapshot))  # doctest: +SKIP
    """
    spec = snapshot.spec
    roles: dict[str, str] = {}

    def role(name: str) -> str:
        if name not in roles:
            try:
                roles[name] = spec.role_of(name)
            except KeyError:
                roles[name] = "unknown"
        return roles[name]

    return {
        t.number: {k: v for k, v in t.params.items() if role(k) != "fixed"} for t in snapshot.trials
    }


def by_number(snapshot: StudySnapshot) -> dict[int, FrozenTrial]:
    return {t.number: t for t in snapshot.trials}
