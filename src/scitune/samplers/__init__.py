"""Samplers: ``suggest(space, history, n, state=...)`` in, configurations and new state out."""

from __future__ import annotations

from typing import Any, Literal

from scitune.samplers._base import Observation, Sampler, Suggestion
from scitune.samplers._bayes import BayesSampler
from scitune.samplers._grid import GridSampler
from scitune.samplers._quasi_random import QuasiRandomSampler
from scitune.samplers._random import RandomSampler

__all__ = [
    "BayesSampler",
    "GridSampler",
    "Observation",
    "QuasiRandomSampler",
    "RandomSampler",
    "Sampler",
    "Suggestion",
    "make_sampler",
]


def make_sampler(
    name: str, *, seed: int = 0, goal: Literal["minimize", "maximize"] = "minimize", **settings: Any
) -> Sampler:
    """The sampler a study file names (``search.sampler``), built with its recorded settings.

    ``goal`` is the objective's direction, which only an adaptive sampler (``bayes``) uses;
    ``settings`` are further constructor arguments (``bayes``: ``algorithm``, ``n_startup``).
    """
    if name == "quasirandom":
        return QuasiRandomSampler(seed=seed)
    if name == "random":
        return RandomSampler(seed=seed)
    if name == "grid":
        return GridSampler()
    if name == "bayes":
        return BayesSampler(seed=seed, goal=goal, **settings)
    raise ValueError(f"unknown sampler {name!r}; use quasirandom, random, grid or bayes.")
