"""Samplers: ``suggest(space, history, n, state=...)`` in, configurations and new state out."""

from __future__ import annotations

from typing import Any

from scitune.samplers._base import Observation, Sampler, Suggestion
from scitune.samplers._grid import GridSampler
from scitune.samplers._quasi_random import QuasiRandomSampler
from scitune.samplers._random import RandomSampler

__all__ = [
    "GridSampler",
    "Observation",
    "QuasiRandomSampler",
    "RandomSampler",
    "Sampler",
    "Suggestion",
    "make_sampler",
]


def make_sampler(name: str, *, seed: int = 0, **settings: Any) -> Sampler:
    """The sampler a study file names (``search.sampler``), built with its recorded settings."""
    if name == "quasirandom":
        return QuasiRandomSampler(seed=seed)
    if name == "random":
        return RandomSampler(seed=seed)
    if name == "grid":
        return GridSampler()
    if name == "bayes":
        from scitune.errors import SpecError

        raise SpecError(
            "search.sampler: 'bayes' (Bayesian optimization on the exploration history) is not "
            "available in this version. Explore with sampler = 'quasirandom' first."
        )
    raise ValueError(f"unknown sampler {name!r}; use quasirandom, random, grid or bayes.")
