"""Design cells: per_value pairs its cells; joint covers scientific values uniformly."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from scipy.stats import qmc

from scitune import design
from scitune.samplers import QuasiRandomSampler, RandomSampler, Sampler
from scitune.space import Space
from scitune.spec import StudySpec


def make_spec(**overrides: Any) -> StudySpec:
    data: dict[str, Any] = {
        "name": "d",
        "entrypoint": {"python": "train:main"},
        "objective": {"metric": "dev_error"},
        "budget": {"trials": 8, "max_train_steps": 100, "seed": 3},
        "scientific": {"dropout": {"values": [0.0, 0.1, 0.3]}},
        "nuisance": {
            "learning_rate": {"low": 1e-4, "high": 0.3, "scale": "log"},
            "weight_decay": {"low": 1e-6, "high": 1e-2, "scale": "log"},
        },
        "fixed": {"optimizer": "adam"},
    }
    data.update(overrides)
    return StudySpec.from_dict(data)


def propose_all(spec: StudySpec, sampler: Sampler | None = None) -> list[Any]:
    sampler = sampler or QuasiRandomSampler(seed=spec.budget.seed)
    new, _ = design.propose(spec, sampler, design.cells(spec), {}, {})
    return new


def test_per_value_cells_share_points_and_seeds() -> None:
    trials = propose_all(make_spec())
    assert len(trials) == 24
    by_cell: dict[str, list[Any]] = {}
    for t in trials:
        by_cell.setdefault(t.slot, []).append(t)
    cells = list(by_cell.values())
    assert len(cells) == 3
    nuisance = [[(t.params["learning_rate"], t.params["weight_decay"], t.seed) for t in c]
                for c in cells]
    assert nuisance[0] == nuisance[1] == nuisance[2]  # paired
    assert {t.params["dropout"] for t in cells[1]} == {0.1}
    assert all(t.params["optimizer"] == "adam" for t in trials)  # fixed values in params
    # Slot by slot: an interrupted study holds the same number of trials per value.
    assert [t.slot_index for t in trials[:3]] == [0, 0, 0]


def test_per_value_continues_the_sequence_instead_of_redrawing() -> None:
    spec = make_spec()
    sampler = QuasiRandomSampler(seed=3)
    cells = design.cells(spec)
    first, state = design.propose(spec, sampler, cells, {}, {})
    counts = Counter(t.slot for t in first)
    bigger = make_spec(budget={"trials": 10, "max_train_steps": 100, "seed": 3})
    more, _ = design.propose(bigger, sampler, design.cells(bigger), counts, state)
    assert len(more) == 6 and {t.slot_index for t in more} == {8, 9}
    everything = propose_all(bigger)
    expected = [t.params for t in everything if t.slot_index >= 8]
    assert [t.params for t in more] == expected


def test_conditional_nuisance_under_a_scientific_parent() -> None:
    spec = make_spec(
        scientific={"optimizer": {"values": ["adam", "nesterov"]}},
        nuisance={
            "learning_rate": {"low": 1e-4, "high": 1.0, "scale": "log"},
            "when": {
                "optimizer": {
                    "adam": {"beta1": {"low": 0.5, "high": 0.99, "scale": "reverse_log"}},
                    "nesterov": {"momentum": {"low": 0.8, "high": 0.99}},
                }
            },
        },
        fixed={},
    )
    trials = propose_all(spec)
    for t in trials:
        if t.params["optimizer"] == "adam":
            assert "beta1" in t.params and "momentum" not in t.params
        else:
            assert "momentum" in t.params and "beta1" not in t.params


def _joint_units(spec: StudySpec, sampler: Sampler) -> tuple[np.ndarray, Counter[Any]]:
    trials = propose_all(spec, sampler)
    space = Space(spec.scientific_space().axes + spec.nuisance_space().axes)
    units = np.array([space.to_unit(t.params) for t in trials])
    return units, Counter(t.params["dropout"] for t in trials)


def test_joint_covers_scientific_values_uniformly() -> None:
    spec = make_spec(
        search={"design": "joint"},
        budget={"trials": 30, "max_train_steps": 100, "seed": 0},
    )
    qr_disc, rnd_disc, qr_spread, rnd_spread = [], [], [], []
    for seed in range(10):
        units, counts = _joint_units(spec, QuasiRandomSampler(seed=seed))
        qr_spread.append(max(counts.values()) - min(counts.values()))
        qr_disc.append(qmc.discrepancy(units))
        r_units, r_counts = _joint_units(spec, RandomSampler(seed=seed))
        rnd_spread.append(max(r_counts.values()) - min(r_counts.values()))
        rnd_disc.append(qmc.discrepancy(r_units))
    assert max(qr_spread) <= 2  # 30 trials over 3 values: 10 +- 1 each
    assert np.mean(qr_spread) < np.mean(rnd_spread)
    assert max(qr_disc) < min(rnd_disc)


def test_trial_seeds_are_stable_and_distinct() -> None:
    seeds = [design.trial_seed(0, i) for i in range(100)]
    assert len(set(seeds)) == 100 and all(0 <= s < 2**31 for s in seeds)
    assert design.trial_seed(0, 5) == seeds[5] and design.trial_seed(1, 5) != seeds[5]
