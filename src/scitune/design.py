"""Which trials a study consists of: design cells, their sampler streams, and trial seeds.

``per_value`` (default): one cell per combination of scientific values, each with its own
nuisance search. Every cell draws from the *same* seeded sequence, so cells whose nuisance
spaces are equal get the same points and the same trial seeds: a paired comparison, with less
study-to-study noise between scientific values. ``joint``: one cell whose space holds the
scientific axes too, so the quasi-random sequence covers scientific values uniformly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from scitune.samplers import GridSampler, Observation, Sampler
from scitune.space import Space, Value
from scitune.storage import NewTrial

if TYPE_CHECKING:
    from scitune.spec import StudySpec

__all__ = ["Cell", "cells", "propose", "trial_seed"]

JOINT = "joint"


@dataclass(frozen=True)
class Cell:
    """One design cell: the scientific values it holds and the space its sampler searches."""

    key: str
    scientific: dict[str, Value]
    space: Space
    context: dict[str, Value]
    target: int


def cell_key(scientific: Mapping[str, Value]) -> str:
    return json.dumps(dict(scientific), sort_keys=True)


def cell_label(key: str) -> str:
    """``dropout=0.3`` for a cell key (the JSON of its scientific values), for people."""
    try:
        values = json.loads(key)
    except ValueError:
        return key
    if not isinstance(values, dict):
        return key
    return ", ".join(
        f"{k}={f'{v:.3g}' if isinstance(v, float) else v}" for k, v in values.items()
    )


def cells(spec: StudySpec) -> list[Cell]:
    """The study's design cells, each with the number of trials it should hold."""
    fixed = spec.context()
    trials = spec.budget.trials
    grid = spec.search.sampler == "grid"
    if spec.search.design == JOINT:
        joint = Space(spec.scientific_space().axes + spec.nuisance_space().axes).resolve(fixed)
        target = min(trials, GridSampler.size(joint)) if grid else trials
        return [Cell(JOINT, {}, joint, dict(fixed), target)]
    out = []
    for scientific in spec.scientific_space().resolve(fixed).grid():
        context = {**fixed, **scientific}
        space = spec.nuisance_space().resolve(context)
        target = min(trials, GridSampler.size(space, context)) if grid else trials
        out.append(Cell(cell_key(scientific), scientific, space, context, target))
    return out


def trial_seed(study_seed: int, slot_index: int) -> int:
    """The training seed of a slot: paired trials across cells share it."""
    state = np.random.SeedSequence([study_seed, slot_index]).generate_state(1)
    return int(state[0] >> 1)  # a non-negative 31-bit int: fine for torch, numpy, JAX


def propose(
    spec: StudySpec,
    sampler: Sampler,
    design: list[Cell],
    counts: Mapping[str, int],
    state: Mapping[str, Any],
    *,
    histories: Mapping[str, Sequence[Observation]] | None = None,
    batch: int | None = None,
) -> tuple[list[NewTrial], dict[str, Any]]:
    """New PENDING trials that bring every cell up to its target, and the advanced state.

    ``counts`` is how many trials each cell already holds; ``state`` is the stored sampler
    state ``{"cells": {key: sampler_state}}``; ``histories`` the trials each cell holds, as the
    sampler sees them (an adaptive sampler learns from them). Cells are filled slot by slot,
    round robin, so an interrupted study has an even number of trials per scientific value.

    A non-adaptive sampler's trials are all proposed at once. An adaptive one (``bayes``)
    proposes its exploration at once (:meth:`Sampler.upfront`) but at most ``batch`` of the
    trials that need results (``None``: no limit), given to the cells with the fewest trials.
    """
    cell_states: dict[str, Any] = {k: dict(v) for k, v in state.get("cells", {}).items()}
    wanted: dict[str, int] = {}
    later: dict[str, int] = {}
    for cell in design:
        n = cell.target - counts.get(cell.key, 0)
        if n <= 0:
            continue
        upfront = sampler.upfront(
            cell.space, (histories or {}).get(cell.key, ()), context=cell.context
        )
        now = n if upfront is None else max(0, min(n, upfront - counts.get(cell.key, 0)))
        wanted[cell.key], later[cell.key] = now, n - now
    budget = sum(later.values()) if batch is None else batch
    for _ in range(min(budget, sum(later.values()))):
        # Slot by slot: the cell with the fewest trials (then design order) gets the next one.
        key = min(
            (c.key for c in design if later.get(c.key, 0) > 0),
            key=lambda k: (counts.get(k, 0) + wanted[k], _order(design, k)),
        )
        wanted[key] += 1
        later[key] -= 1
    new: dict[str, list[NewTrial]] = {}
    for cell in design:
        n = wanted.get(cell.key, 0)
        if n <= 0:
            continue
        have = counts.get(cell.key, 0)
        suggestion = sampler.suggest(
            cell.space,
            list((histories or {}).get(cell.key, ())),
            n,
            state=cell_states.get(cell.key, {}),
            context=cell.context,
        )
        cell_states[cell.key] = suggestion.state
        new[cell.key] = [
            NewTrial(
                params={
                    **cell.scientific,
                    **config,
                    **spec.fixed_params({**cell.context, **config}),
                },
                seed=trial_seed(spec.budget.seed, have + i),
                slot=cell.key,
                slot_index=have + i,
            )
            for i, config in enumerate(suggestion.configs)
        ]
    ordered = sorted(
        (t for ts in new.values() for t in ts), key=lambda t: (t.slot_index, _order(design, t.slot))
    )
    return ordered, {"sampler": sampler.name, "settings": sampler.settings(), "cells": cell_states}


def _order(design: list[Cell], key: str) -> int:
    return next(i for i, c in enumerate(design) if c.key == key)
