"""Independent uniform random search, addressable by position like the quasi-random one."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from scitune.samplers._base import UnitCubeSampler

__all__ = ["RandomSampler"]


class RandomSampler(UnitCubeSampler):
    """Point ``k`` is drawn from a generator keyed on ``(seed, k)``: reproducible, resumable."""

    name = "random"

    def points(self, d: int, start: int, n: int) -> npt.NDArray[np.float64]:
        out = np.empty((n, d))
        for i in range(n):
            out[i] = np.random.default_rng([self.seed, start + i]).random(d)
        return out
