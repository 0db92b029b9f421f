"""The sampler interface: algorithms get data, not back-ends.

A sampler never touches storage. It receives the space, the history and how many
configurations to propose, plus its own explicit state (e.g. its position in a quasi-random
sequence), and returns configurations with the state advanced. The caller saves that state
atomically with the trials it creates, so two processes can never draw the same positions.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from scitune.space import Space, Value

__all__ = ["Observation", "Sampler", "Suggestion"]


@dataclass(frozen=True)
class Observation:
    """A trial as a sampler sees it: its configuration and its score.

    ``value`` is ``None`` for a trial without a score; ``feasible`` is False for INFEASIBLE
    trials and for those that violate a satisficing constraint (a constraint violation, not a
    bad score). ``pending`` marks a trial created but not finished (PENDING or RUNNING): an
    adaptive sampler must not propose it again. ``prior`` marks a trial of an earlier study
    (``search.history``): exploration already done, which an adaptive sampler need not repeat.
    """

    params: Mapping[str, Value]
    value: float | None
    feasible: bool = True
    pending: bool = False
    prior: bool = False


@dataclass(frozen=True)
class Suggestion:
    """Configurations proposed, and the sampler state after proposing them."""

    configs: list[dict[str, Value]]
    state: dict[str, Any] = field(default_factory=dict)


class Sampler(abc.ABC):
    """Proposes configurations. Settings are constructor arguments and are recorded."""

    name: ClassVar[str]

    @abc.abstractmethod
    def settings(self) -> dict[str, Any]:
        """Constructor arguments that reproduce this sampler (stored with the study)."""

    @abc.abstractmethod
    def suggest(
        self,
        space: Space,
        history: Sequence[Observation],
        n: int,
        *,
        state: Mapping[str, Any],
        context: Mapping[str, Value] | None = None,
    ) -> Suggestion:
        """Propose ``n`` configurations of ``space``.

        Args:
            space: what to search; conditional axes whose parent is in ``context`` or in the
                space itself are switched on per configuration.
            history: the trials of the same space so far, finished and pending (ignored by
                non-adaptive samplers).
            n: how many configurations.
            state: the state returned by the previous call (``{}`` the first time).
            context: values fixed for this call (scientific and fixed values), which resolve
                conditional axes but are not part of the returned configurations.
        """

    def upfront(
        self,
        space: Space,
        history: Sequence[Observation] = (),
        context: Mapping[str, Value] | None = None,
    ) -> int | None:
        """How many configurations of ``space`` can be proposed before any result is known.

        ``None`` (non-adaptive samplers): all of them, so a study creates its trials at once.
        An adaptive sampler returns its exploration size, less what ``history`` already
        explored; the trials after it are created a few at a time, each batch with the results
        so far in ``history``.
        """
        return None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args})"


class UnitCubeSampler(Sampler):
    """A non-adaptive sampler defined by points in ``[0, 1]^d`` addressed by position."""

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = _normalize_seed(seed)

    def settings(self) -> dict[str, Any]:
        return {"seed": self.seed}

    @abc.abstractmethod
    def points(self, d: int, start: int, n: int) -> npt.NDArray[np.float64]:
        """Points ``start .. start + n - 1`` of this sampler's sequence in ``[0, 1]^d``."""

    def suggest(
        self,
        space: Space,
        history: Sequence[Observation],
        n: int,
        *,
        state: Mapping[str, Any],
        context: Mapping[str, Value] | None = None,
    ) -> Suggestion:
        start = int(state.get("position", 0))
        unit = self.points(len(space), start, n)
        return Suggestion(space.configs_from_unit(unit, context), {"position": start + n})


def _normalize_seed(seed: int | None) -> int:
    """One place that turns a user seed into a non-negative int (``None`` -> fresh entropy)."""
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}.")
    return int(seed)
