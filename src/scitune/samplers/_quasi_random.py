"""Quasi-random search: scrambled Halton points from ``scipy.stats.qmc``, seeded and recorded.

The playbook's default for exploration (PLAYBOOK_SPEC §4): uniform coverage makes boundary
checks meaningful, parallel and sequential runs see the same points, and another seed gives
another draw of the same design (how study variance is measured). Point ``k`` of a seed's
sequence is always the same point, so a study can be extended or resumed at any position.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.stats import qmc

from scitune.samplers._base import UnitCubeSampler

__all__ = ["QuasiRandomSampler"]


class QuasiRandomSampler(UnitCubeSampler):
    """Owen-scrambled Halton sequence (``qmc.Halton(scramble=True, rng=seed)``).

    Example:
        >>> from scitune.space import FloatDomain, Space
        >>> space = Space.build({"lr": FloatDomain(1e-4, 1e-1, "log")})
        >>> s = QuasiRandomSampler(seed=0).suggest(space, [], 3, state={})
        >>> len(s.configs), s.state
        (3, {'position': 3})
    """

    name = "quasirandom"

    def __init__(self, *, seed: int = 0) -> None:
        super().__init__(seed=seed)
        # A cache, not state: the engine at the position it was last left, per dimension.
        self._engines: dict[int, tuple[qmc.Halton, int]] = {}

    def points(self, d: int, start: int, n: int) -> npt.NDArray[np.float64]:
        if d == 0:
            return np.zeros((n, 0))
        engine, position = self._engines.get(d, (None, -1))
        if engine is None or position > start:
            engine, position = qmc.Halton(d, scramble=True, rng=self.seed), 0
        if position < start:
            engine.fast_forward(start - position)
        out = np.asarray(engine.random(n), dtype=np.float64)
        self._engines[d] = (engine, start + n)
        return out
