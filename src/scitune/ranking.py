"""One ranking for every view: configurations, each a trial with its reruns, by the mean over runs.

A *configuration* is a design trial together with the trials that rerun it with new seeds
(``scitune reseed``, ``budget.runs``): same parameters, one score per run. It is the unit the
playbook decides on (§6): a lucky rerun is one more run of its configuration, never a separate
winner. Every view names winners through :func:`rank_configurations` -- ``run``, ``status``,
``trials``, ``analyze``, the report, ``compare STUDY`` and ``adopt STUDY`` -- so they always
agree.

Rules: a run counts when its trial is COMPLETE with a finite score; a configuration's score is
the mean over all its runs that count; it is ranked unless one of those runs breaks a constraint
(satisficing metrics filter before the objective ranks); ties go to the lower trial number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from scitune.scoring import Goal, sort_key
from scitune.space import Value
from scitune.storage import FrozenTrial, TrialState

__all__ = ["Configuration", "is_run", "rank_configurations", "root_of"]


@dataclass(frozen=True)
class Configuration:
    """A configuration and its runs that count, best runs' mean first in a ranking.

    ``trial`` is the design trial's number (``STUDY#N`` names the configuration);
    ``trial_numbers`` and ``values`` are its runs that count, by trial number. ``std`` (ddof 1)
    and ``se`` are ``None`` for a single run. ``rank`` is 1 for the best; ``None`` when a run
    breaks a constraint (``violations`` says how).
    """

    trial: int
    params: Mapping[str, Value]
    trial_numbers: tuple[int, ...]
    values: tuple[float, ...]
    n: int
    mean: float
    std: float | None
    se: float | None
    violations: tuple[str, ...] = ()
    rank: int | None = None

    @property
    def single_run(self) -> bool:
        """Only one run: its score carries no measure of the retrain spread."""
        return self.n == 1

    def describe(self, digits: int = 4) -> str:
        """``0.0675 ± 0.0014 (3 runs)``, or ``0.065 (1 run)``."""
        if self.se is None:
            return f"{self.mean:.{digits}g} (1 run)"
        return f"{self.mean:.{digits}g} ± {self.se:.2g} ({self.n} runs)"


def root_of(trial: FrozenTrial, by_number: Mapping[int, FrozenTrial] | None = None) -> int:
    """The number of the design trial whose configuration ``trial`` runs (a chain of reruns
    is followed back through ``by_number``, the study's trials by number)."""
    seen = {trial.number}
    current = trial
    while current.parent_number is not None:
        parent = (by_number or {}).get(current.parent_number)
        if parent is None or parent.number in seen:
            return current.parent_number
        seen.add(parent.number)
        current = parent
    return current.number


def is_run(trial: FrozenTrial) -> bool:
    """Whether a trial is a run that counts: COMPLETE with a finite score."""
    return (
        trial.state is TrialState.COMPLETE
        and trial.value is not None
        and math.isfinite(trial.value)
    )


def rank_configurations(
    trials: Iterable[FrozenTrial],
    *,
    goal: Goal,
    violations: Mapping[int, Sequence[str]] | None = None,
) -> list[Configuration]:
    """Every configuration with at least one run that counts: ranked ones best first (by
    mean over runs; ties: lower trial number), then those that break a constraint.

    Args:
        trials: a study's trials (design trials and reruns; a rerun whose design trial is not
            among them stands for its configuration alone).
        goal: ``"minimize"`` or ``"maximize"``.
        violations: trial id -> why it breaks a constraint (empty or missing: it does not).

    Example:
        >>> import datetime as dt
        >>> def t(n, value, parent=None):
        ...     return FrozenTrial(n, 1, n, TrialState.COMPLETE, {"lr": 0.1 * (parent or n)}, 0,
        ...                        "", 0, parent, dt.datetime.now(dt.UTC), value=value)
        >>> ranked = rank_configurations([t(0, 0.30), t(1, 0.25), t(2, 0.10, parent=0)],
        ...                              goal="minimize")
        >>> [(c.trial, c.n, round(c.mean, 3), c.rank) for c in ranked]  # #2 reruns #0
        [(0, 2, 0.2, 1), (1, 1, 0.25, 2)]
    """
    broken = violations or {}
    trials = list(trials)
    by_number = {t.number: t for t in trials}
    families: dict[int, list[FrozenTrial]] = {}
    originals: dict[int, FrozenTrial] = {}
    for t in trials:
        root = root_of(t, by_number)
        if t.parent_number is None:
            originals[root] = t
        if is_run(t):
            families.setdefault(root, []).append(t)
    configs: list[Configuration] = []
    for root, runs in families.items():
        runs.sort(key=lambda t: t.number)
        values = tuple(float(t.value) for t in runs if t.value is not None)
        n = len(values)
        mean = math.fsum(values) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
        why = tuple(dict.fromkeys(v for t in runs for v in broken.get(t.id, ())))
        source = originals.get(root, runs[0])
        configs.append(
            Configuration(
                trial=root,
                params=dict(source.params),
                trial_numbers=tuple(t.number for t in runs),
                values=values,
                n=n,
                mean=mean,
                std=std,
                se=std / math.sqrt(n) if std is not None else None,
                violations=why,
            )
        )
    sign = sort_key(goal)
    configs.sort(key=lambda c: (bool(c.violations), sign * c.mean, c.trial))
    eligible = [c for c in configs if not c.violations]
    ranked = [replace(c, rank=i + 1) for i, c in enumerate(eligible)]
    return ranked + [c for c in configs if c.violations]
