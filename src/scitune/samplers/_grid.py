"""Grid search over a finite space (categorical / discrete axes only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scitune.samplers._base import Observation, Sampler, Suggestion
from scitune.space import Space, Value

__all__ = ["GridSampler"]


class GridSampler(Sampler):
    """Every combination of the space's values, in a fixed order; stops when exhausted.

    The playbook: a grid only for one or two dimensions; quasi-random search otherwise.
    """

    name = "grid"

    def settings(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def size(space: Space, context: Mapping[str, Value] | None = None) -> int:
        return len(space.resolve(context or {}).grid())

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
        ctx = dict(context or {})
        grid = space.resolve(ctx).grid()
        chosen = grid[start : start + n]
        configs = [{k: v for k, v in c.items() if k not in ctx} for c in chosen]
        return Suggestion(configs, {"position": start + len(chosen)})
