"""A study frozen at one moment: what every check reads (and nothing else)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scitune.analysis._roles import Role, role_metric
from scitune.ranking import Configuration, rank_configurations
from scitune.scoring import constraint_violations
from scitune.storage import Curve, FrozenTrial, TrialState

if TYPE_CHECKING:
    from scitune.spec import StudySpec
    from scitune.study import Study

__all__ = ["StudySnapshot"]


@dataclass(frozen=True)
class StudySnapshot:
    """The spec, every trial and their curves. Checks are pure functions of this.

    Build one from a study with :meth:`from_study`, or directly in tests.
    """

    spec: StudySpec
    trials: tuple[FrozenTrial, ...]
    curves: Mapping[int, Mapping[str, Curve]]  # trial id -> metric -> curve
    violations: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    # Every trial, reruns included, when ``trials`` holds the design only (:meth:`design`):
    # configurations are always ranked over all their runs.
    all_trials: tuple[FrozenTrial, ...] = ()

    @classmethod
    def from_study(cls, study: Study, *, metrics: Iterable[str] | None = None) -> StudySnapshot:
        trials = tuple(study.trials())
        curves = study.storage.get_curves(study.record.id, metrics=metrics)
        return cls.build(study.spec, trials, curves)

    @classmethod
    def build(
        cls,
        spec: StudySpec,
        trials: Iterable[FrozenTrial],
        curves: Mapping[int, Mapping[str, Curve]],
    ) -> StudySnapshot:
        """A snapshot with constraint violations computed from ``curves``."""
        trials = tuple(trials)
        violations = {
            t.id: tuple(constraint_violations(spec.constraints, curves.get(t.id, {}), t.value_step))
            for t in trials
            if t.state is TrialState.COMPLETE
        }
        return cls(spec, trials, curves, violations)

    def design(self) -> StudySnapshot:
        """The design's trials only: reruns of a configuration (``scitune reseed``) left out.

        The search checks (boundary, density, curves...) read the design; reruns would count
        one configuration several times. Trial variance reads the reruns.
        """
        kept = tuple(t for t in self.trials if t.parent_number is None)
        if len(kept) == len(self.trials):
            return self
        every = self.all_trials or self.trials
        return StudySnapshot(self.spec, kept, self.curves, self.violations, every)

    def searched(self) -> bool:
        """Whether the study's sampler searches anything: a nuisance axis, or scientific axes
        sampled jointly. A study of fixed configurations (``scitune extend``) does not."""
        from scitune.design import cells

        return any(len(cell.space) > 0 for cell in cells(self.spec))

    @property
    def sign(self) -> float:
        """+1 when lower scores are better, -1 when higher are: ``sign * score`` ascends."""
        return 1.0 if self.spec.objective.goal == "minimize" else -1.0

    def is_ranked(self, trial: FrozenTrial) -> bool:
        """COMPLETE with a score and no constraint violation."""
        return (
            trial.state is TrialState.COMPLETE
            and trial.value is not None
            and not self.violations.get(trial.id)
        )

    def configurations(self) -> list[Configuration]:
        """The one ranking (:mod:`scitune.ranking`): configurations by their mean over runs,
        best first; those breaking a constraint last, unranked. Winners are named from it."""
        return rank_configurations(
            self.all_trials or self.trials,
            goal=self.spec.objective.goal,
            violations=self.violations,
        )

    def ranked(self) -> list[FrozenTrial]:
        """Ranked trials, best first by their own score (ties: lower number first): what the
        search checks read (each design trial is one draw of the search). Winners are
        configurations: see :meth:`configurations`."""
        eligible = [t for t in self.trials if self.is_ranked(t)]
        return sorted(eligible, key=lambda t: (self.sign * (t.value or 0.0), t.number))

    def finished(self) -> list[FrozenTrial]:
        return [t for t in self.trials if t.state.finished]

    def curve(self, trial: FrozenTrial, metric: str) -> Curve | None:
        return self.curves.get(trial.id, {}).get(metric)

    def metric_names(self) -> list[str]:
        return sorted({m for per in self.curves.values() for m in per})

    def metric_for(self, role: Role, override: str | None = None) -> str | None:
        """The metric playing ``role`` (``"train_loss"``, ``"grad_norm"``...): ``override``,
        else the study's ``[metrics]`` declaration, else a conventional name logged as a curve.

        See :func:`scitune.analysis._roles.role_metric`.
        """
        return role_metric(self, role, override=override)

    def train_metric(self, preferred: str | None = None) -> str | None:
        """The training-loss metric: ``metric_for("train_loss", preferred)``."""
        return self.metric_for("train_loss", preferred)
