"""Samplers: reproducible, resumable, uniform; they never see storage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import qmc

from scitune.samplers import GridSampler, QuasiRandomSampler, RandomSampler, make_sampler
from scitune.space import ChoiceDomain, FloatDomain, IntDomain, Space

SPACE = Space.build(
    {
        "learning_rate": FloatDomain(1e-4, 1e-1, "log"),
        "weight_decay": FloatDomain(1e-6, 1e-2, "log"),
        "beta1": FloatDomain(0.5, 0.99, "reverse_log"),
        "width": IntDomain(16, 256, "log"),
    }
)


def test_same_seed_same_configs_other_seed_other_draw() -> None:
    a = QuasiRandomSampler(seed=7).suggest(SPACE, [], 16, state={}).configs
    b = QuasiRandomSampler(seed=7).suggest(SPACE, [], 16, state={}).configs
    c = QuasiRandomSampler(seed=8).suggest(SPACE, [], 16, state={}).configs
    assert a == b
    assert a != c


@pytest.mark.parametrize("cls", [QuasiRandomSampler, RandomSampler])
def test_position_is_explicit_state_so_batches_equal_one_draw(cls: type) -> None:
    sampler = cls(seed=3)
    first = sampler.suggest(SPACE, [], 5, state={})
    second = sampler.suggest(SPACE, [], 7, state=first.state)
    whole = cls(seed=3).suggest(SPACE, [], 12, state={})
    assert second.state == {"position": 12}
    assert first.configs + second.configs == whole.configs
    # A fresh sampler resumes at a saved position (another process, after a restart).
    resumed = cls(seed=3).suggest(SPACE, [], 7, state={"position": 5})
    assert resumed.configs == second.configs


def _unit(configs: list[dict[str, object]]) -> np.ndarray:
    return np.array([SPACE.to_unit(c) for c in configs])  # type: ignore[arg-type]


def test_quasirandom_is_more_uniform_than_random() -> None:
    n = 64
    qr = [qmc.discrepancy(_unit(QuasiRandomSampler(seed=s).suggest(SPACE, [], n, state={}).configs))
          for s in range(5)]
    rnd = [qmc.discrepancy(_unit(RandomSampler(seed=s).suggest(SPACE, [], n, state={}).configs))
           for s in range(5)]
    assert max(qr) < min(rnd)


def test_quasirandom_small_budgets_cover_the_whole_log_range() -> None:
    # Vizier issue #541: 25 unscrambled points all landed in [0.01, 0.013] of [1e-4, 0.1].
    space = Space.build({"lr": FloatDomain(1e-4, 0.1, "log")})
    for seed in range(10):
        configs = QuasiRandomSampler(seed=seed).suggest(space, [], 25, state={}).configs
        lrs = [c["lr"] for c in configs]
        decades = {int(np.floor(np.log10(x))) for x in lrs}  # type: ignore[arg-type]
        assert decades == {-4, -3, -2}


def test_grid_enumerates_a_finite_space_then_stops() -> None:
    space = Space.build({"a": ChoiceDomain((1, 2)), "b": ChoiceDomain(("x", "y", "z"))})
    g = GridSampler()
    first = g.suggest(space, [], 4, state={})
    rest = g.suggest(space, [], 10, state=first.state)
    assert len(first.configs) == 4 and len(rest.configs) == 2
    assert {(c["a"], c["b"]) for c in first.configs + rest.configs} == {
        (a, b) for a in (1, 2) for b in "xyz"
    }
    assert GridSampler.size(space) == 6


def test_samplers_record_their_settings() -> None:
    assert make_sampler("quasirandom", seed=5).settings() == {"seed": 5}
    assert repr(make_sampler("random", seed=2)) == "RandomSampler(seed=2)"


def test_empty_space_gives_empty_configs() -> None:
    s = QuasiRandomSampler(seed=0).suggest(Space(), [], 3, state={})
    assert s.configs == [{}, {}, {}]
