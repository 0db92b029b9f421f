"""Bayes: quasi-random exploration, then Optuna (GP or TPE) fed with the history as data."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scitune import design
from scitune.samplers import (
    BayesSampler,
    Observation,
    QuasiRandomSampler,
    RandomSampler,
    make_sampler,
)
from scitune.samplers._bayes import _Codec, _frozen_trials
from scitune.space import ChoiceDomain, FloatDomain, IntDomain, Space, Value
from scitune.spec import StudySpec, load_spec
from scitune.storage import TrialState
from scitune.study import Study

ALGORITHMS = ["gp", "tpe"]

# Every domain kind, and conditional axes under a categorical parent that is searched.
MIXED = Space.build(
    {
        "optimizer": ChoiceDomain(("adam", "sgd")),
        "lr": FloatDomain(1e-4, 1.0, "log"),
        "x": FloatDomain(-1.0, 1.0),
        "width": IntDomain(8, 64, "log"),
        "depth": IntDomain(1, 4),
        "flag": ChoiceDomain((True, 1, "one")),
    },
    {
        "optimizer": {
            "adam": {"beta1": FloatDomain(0.5, 0.999, "reverse_log")},
            "sgd": {"momentum": FloatDomain(0.0, 0.99)},
        }
    },
)
QUAD = Space.build({"lr": FloatDomain(1e-4, 1.0, "log"), "x": FloatDomain(0.0, 1.0)})


def mixed_score(c: Mapping[str, Value]) -> float:
    lr, x = float(c["lr"]), float(c["x"])
    extra = (1.0 - float(c["beta1"])) if c["optimizer"] == "adam" else float(c["momentum"])
    return (math.log10(lr) + 2) ** 2 + (x - 0.3) ** 2 + extra + 0.01 * int(c["depth"])


def quad(c: Mapping[str, Value]) -> float:
    return (math.log10(float(c["lr"])) + 2.5) ** 2 / 4 + (float(c["x"]) - 0.7) ** 2


def observe(
    configs: list[dict[str, Value]], f: Callable[[Mapping[str, Value]], float]
) -> list[Observation]:
    return [Observation(c, f(c)) for c in configs]


def assert_valid(
    space: Space, config: Mapping[str, Value], context: Mapping[str, Value] | None = None
) -> None:
    active = space.active_axes({**(context or {}), **config})
    assert set(config) == {a.name for a in active}  # conditional keys only when switched on
    for axis in active:
        assert axis.domain.contains(config[axis.name]), (axis.key, config[axis.name])


def explore(
    sampler: BayesSampler, space: Space, f: Callable[[Mapping[str, Value]], float]
) -> tuple[list[Observation], dict[str, Any]]:
    s = sampler.suggest(space, [], sampler.startup(space), state={})
    return observe(s.configs, f), s.state


# -- mapping -----------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_domain_kind_gives_valid_configs_with_conditionals(algorithm: str) -> None:
    sampler = BayesSampler(seed=1, algorithm=algorithm)  # type: ignore[arg-type]
    history, state = explore(sampler, MIXED, mixed_score)
    # GP's acquisition search over integer axes is the slow part (seconds per ask): keep n small.
    s = sampler.suggest(MIXED, history, 3, state=state)
    assert len(s.configs) == 3 and s.state["algorithm"] == algorithm
    for c in s.configs:
        assert_valid(MIXED, c)
        assert ("beta1" in c) == (c["optimizer"] == "adam")
        assert ("momentum" in c) == (c["optimizer"] == "sgd")
        assert type(c["depth"]) is int and type(c["width"]) is int


def test_domains_map_to_optuna_distributions_and_back() -> None:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    codec = _Codec(MIXED, {})
    config: dict[str, Value] = {
        "optimizer": "adam", "lr": 1e-3, "x": -0.5, "width": 32, "depth": 3, "flag": 1,
        "beta1": 0.9,
    }
    encoded = codec.encode(config)
    assert encoded is not None
    params, dists = encoded
    assert dists["lr"] == FloatDistribution(1e-4, 1.0, log=True)
    assert dists["x"] == FloatDistribution(-1.0, 1.0)
    assert dists["width"] == IntDistribution(8, 64, log=True)
    assert dists["depth"] == IntDistribution(1, 4)
    assert dists["flag"] == CategoricalDistribution((0, 1, 2))  # by index: True and 1 apart
    assert params["flag"] == 1 and params["optimizer"] == 0
    # reverse_log is searched in its unit coordinate, where it is uniform.
    beta1 = MIXED.axes[MIXED.keys.index("beta1[optimizer=adam]")].domain
    assert dists["beta1[optimizer=adam]"] == FloatDistribution(0.0, 1.0)
    assert params["beta1[optimizer=adam]"] == pytest.approx(beta1.to_unit(0.9))
    assert "momentum[optimizer=sgd]" not in params  # inactive: not an Optuna parameter
    # Out of the space (a refined range, a missing axis): left out, not clipped.
    assert codec.encode({**config, "lr": 2.0}) is None
    assert codec.encode({k: v for k, v in config.items() if k != "beta1"}) is None


def test_reverse_log_suggestions_use_the_whole_unit_range() -> None:
    space = Space.build({"beta2": FloatDomain(0.9, 0.9999, "reverse_log")})
    sampler = BayesSampler(seed=0, algorithm="tpe", n_startup=0)
    configs = sampler.suggest(space, [], 40, state={}).configs
    units = [space.to_unit(c)[0] for c in configs]
    assert all(0.9 <= float(c["beta2"]) <= 0.9999 for c in configs)
    assert min(units) < 0.2 and max(units) > 0.8  # uniform in u: values crowd towards 1


def test_context_resolves_conditionals_and_is_not_returned() -> None:
    space = MIXED.resolve({"optimizer": "sgd"})
    space = Space(tuple(a for a in space.axes if a.name != "optimizer"))
    sampler = BayesSampler(seed=0, algorithm="tpe", n_startup=3)
    ctx: dict[str, Value] = {"optimizer": "sgd"}
    s = sampler.suggest(space, [], 3, state={}, context=ctx)
    history = observe(s.configs, lambda c: mixed_score({**ctx, **c}))
    more = sampler.suggest(space, history, 3, state=s.state, context=ctx).configs
    for c in more:
        assert "optimizer" not in c and "momentum" in c and "beta1" not in c
        assert_valid(space, c, ctx)


# -- explore, then exploit --------------------------------------------------------------------
def test_first_trials_are_the_quasirandom_exploration() -> None:
    sampler = BayesSampler(seed=4, algorithm="tpe")
    assert sampler.startup(QUAD) == 10 and sampler.startup(MIXED) == 16  # max(10, 2 * dims)
    assert BayesSampler(n_startup=3).startup(MIXED) == 3
    qr = QuasiRandomSampler(seed=4).suggest(QUAD, [], 10, state={}).configs
    first = sampler.suggest(QUAD, [], 6, state={})
    rest = sampler.suggest(QUAD, observe(first.configs, quad), 4, state=first.state)
    assert first.configs + rest.configs == qr
    assert rest.state == {"algorithm": "tpe", "position": 10, "n_startup": 10}
    # A call that crosses the boundary: exploration first, the Bayesian part after it.
    mixed = sampler.suggest(QUAD, observe(qr[:8], quad), 4, state={"position": 8})
    assert mixed.configs[:2] == qr[8:] and mixed.configs[2] not in qr


def test_an_earlier_studys_results_count_as_exploration() -> None:
    sampler = BayesSampler(seed=4, algorithm="tpe")
    wide = QuasiRandomSampler(seed=1).suggest(QUAD, [], 12, state={}).configs
    narrow = Space.build({"lr": FloatDomain(1e-3, 1e-1, "log"), "x": FloatDomain(0.0, 1.0)})
    inside = [c for c in wide if 1e-3 <= float(c["lr"]) <= 1e-1]
    prior = [Observation(c, quad(c), prior=True) for c in wide]
    assert 0 < len(inside) < 10
    # Only the prior trials inside the refined space count; this study's own do not.
    assert sampler.startup(narrow, prior) == 10 - len(inside)
    own = [Observation(c, quad(c)) for c in inside]
    assert sampler.startup(narrow, own) == 10
    assert sampler.startup(narrow, prior * 3) == 0
    # With the exploration done, the first suggestion is already Bayesian.
    s = sampler.suggest(narrow, prior * 3, 1, state={})
    assert s.state["n_startup"] == 0
    assert s.configs != QuasiRandomSampler(seed=4).suggest(narrow, [], 1, state={}).configs


def test_settings_record_the_algorithm_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    sampler = make_sampler("bayes", seed=3, goal="maximize")
    assert sampler.settings() == {
        "seed": 3, "algorithm": "gp", "goal": "maximize", "n_startup": None
    }  # torch is installed here
    assert make_sampler("bayes", algorithm="tpe", n_startup=5).settings()["n_startup"] == 5
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    assert BayesSampler().algorithm == "tpe"  # auto without torch
    with pytest.raises(ValueError, match="needs torch"):
        BayesSampler(algorithm="gp")
    with pytest.raises(ValueError, match="algorithm"):
        BayesSampler(algorithm="cma")  # type: ignore[arg-type]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_same_seed_and_history_same_suggestions(algorithm: str) -> None:
    def run(seed: int) -> list[dict[str, Value]]:
        sampler = BayesSampler(seed=seed, algorithm=algorithm)  # type: ignore[arg-type]
        history, state = explore(BayesSampler(seed=0, algorithm="tpe"), QUAD, quad)
        return sampler.suggest(QUAD, history, 3, state=state).configs

    assert run(0) == run(0)
    assert run(0) != run(1)


# -- infeasible trials are constraint violations ------------------------------------------------
def test_infeasible_history_becomes_constraints_not_scores() -> None:
    codec = _Codec(QUAD, {})
    history = [
        Observation({"lr": 1e-2, "x": 0.1}, 3.0),
        Observation({"lr": 1e-3, "x": 0.2}, 5.0),
        Observation({"lr": 1e-1, "x": 0.9}, None, feasible=False),  # diverged
        Observation({"lr": 1e-1, "x": 0.8}, 0.5, feasible=False),  # violates a satisficing metric
        Observation({"lr": 1e-4, "x": 0.3}, None),  # FAILED: no result, left out
        Observation({"lr": 1e-2, "x": 0.5}, None, pending=True),
    ]
    trials = _frozen_trials(codec, history, "minimize")
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4 + ["RUNNING"]
    assert [t.constraints for t in trials[:4]] == [
        {"feasible": -1.0}, {"feasible": -1.0}, {"feasible": 1.0}, {"feasible": 1.0}
    ]
    assert [t.value for t in trials[:4]] == [3.0, 5.0, 5.0, 0.5]  # no score: the worst seen
    assert _frozen_trials(codec, history[:2], "minimize")[0].constraints == {}  # none infeasible
    assert _frozen_trials(codec, history[:3], "maximize")[2].value == 3.0


def test_the_gp_sees_the_bad_tail_compressed_and_the_order_kept() -> None:
    from scitune.samplers._bayes import _tail_squash

    # A loss spanning orders of magnitude, as a diverging configuration next to good ones gives.
    scores = [0.5, 0.6, 0.7, 1.0, 2.0, 40.0, 900.0, 1.2e5]
    squash = _tail_squash(scores, "minimize")
    seen = [squash(v) for v in scores]
    assert seen == sorted(seen) and len(set(seen)) == len(scores)  # order kept
    assert seen[:4] == scores[:4]  # the better half keeps its scale: precision near the optimum
    assert seen[-1] < scores[-1] / 50  # the tail no longer dominates the fit
    # Maximizing: the worse half is the lower one.
    up = _tail_squash([-v for v in scores], "maximize")
    assert [up(-v) for v in scores] == [-x for x in seen]
    codec = _Codec(QUAD, {})
    history = [
        Observation({"lr": 10.0 ** -(i % 4 + 1), "x": i / 8}, v) for i, v in enumerate(scores)
    ]
    assert [t.value for t in _frozen_trials(codec, history, "minimize")] == scores
    warped = [t.value for t in _frozen_trials(codec, history, "minimize", warp=True)]
    fitted = _tail_squash([*scores, max(scores)], "minimize")  # with the infeasible stand-in
    assert warped == [fitted(v) for v in scores]


def test_suggestions_learn_where_feasibility_ends() -> None:
    # Lower is better as x grows, but every x > 0.6 diverges: the constrained optimum is the
    # edge of the feasible region. The GP's constraint model finds that edge and probes it,
    # instead of returning to the infeasible region that would look best without it.
    space = Space.build({"x": FloatDomain(0.0, 1.0)})

    def tell(c: Mapping[str, Value]) -> Observation:
        x = float(c["x"])
        return Observation(c, -x, feasible=False) if x > 0.6 else Observation(c, -x)

    sampler = BayesSampler(seed=0, algorithm="gp", n_startup=8)
    s = sampler.suggest(space, [], 8, state={})
    history = [tell(c) for c in s.configs]
    explored = max(-o.value for o in history if o.feasible and o.value is not None)
    state = s.state
    suggested = []
    for _ in range(5):
        s = sampler.suggest(space, history, 1, state=state)
        state = s.state
        history.append(tell(s.configs[0]))
        suggested.append(float(s.configs[0]["x"]))
    assert np.median(np.abs(np.array(suggested) - 0.6)) < 0.05
    best = max(-o.value for o in history if o.feasible and o.value is not None)
    assert explored < best <= 0.6


# -- batches --------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_batch_of_8_has_no_duplicates(algorithm: str) -> None:
    sampler = BayesSampler(seed=0, algorithm=algorithm)  # type: ignore[arg-type]
    history, state = explore(sampler, QUAD, quad)
    history.append(Observation({"lr": 3e-3, "x": 0.7}, None, pending=True))  # another worker's
    batch = sampler.suggest(QUAD, history, 8, state=state).configs
    keys = {(c["lr"], c["x"]) for c in batch}
    assert len(keys) == 8
    assert not keys & {(o.params["lr"], o.params["x"]) for o in history}


def test_a_small_finite_space_is_filled_without_repeats() -> None:
    space = Space.build({"a": ChoiceDomain(("x", "y", "z")), "b": IntDomain(1, 4)})
    seen: list[dict[str, Value]] = [
        {"a": "x", "b": 1}, {"a": "y", "b": 2}, {"a": "z", "b": 3}, {"a": "x", "b": 4}
    ]
    history = [Observation(c, float(i)) for i, c in enumerate(seen)]
    for algorithm in ALGORITHMS:
        sampler = BayesSampler(seed=0, algorithm=algorithm, n_startup=0)  # type: ignore[arg-type]
        batch = sampler.suggest(space, history, 8, state={}).configs
        everything = {(c["a"], c["b"]) for c in seen + batch}
        assert len(everything) == 12  # the 8 configurations not run yet, each once


# -- search quality ---------------------------------------------------------------------------
def test_explore_then_exploit_beats_random_search_at_equal_budget() -> None:
    bayes_best, random_best = [], []
    for seed in range(5):
        sampler = BayesSampler(seed=seed, goal="minimize")
        history, state = explore(sampler, QUAD, quad)
        for _ in range(20):
            s = sampler.suggest(QUAD, history, 1, state=state)
            state = s.state
            history += observe(s.configs, quad)
        assert len(history) == 30 and state["algorithm"] == "gp"
        bayes_best.append(min(o.value for o in history if o.value is not None))
        configs = RandomSampler(seed=seed).suggest(QUAD, [], 30, state={}).configs
        random_best.append(min(quad(c) for c in configs))
    assert np.median(bayes_best) < np.median(random_best) / 10
    assert sum(b < r for b, r in zip(bayes_best, random_best, strict=True)) >= 4


def test_maximize_goal_is_followed() -> None:
    sampler = BayesSampler(seed=0, goal="maximize", algorithm="tpe")
    history, state = explore(sampler, QUAD, lambda c: -quad(c))
    for _ in range(10):
        s = sampler.suggest(QUAD, history, 2, state=state)
        state = s.state
        history += observe(s.configs, lambda c: -quad(c))
    late = [o.value for o in history[10:] if o.value is not None]
    early = [o.value for o in history[:10] if o.value is not None]
    assert np.median(late) > np.median(early)


# -- the design and the runner ----------------------------------------------------------------
def make_spec(**overrides: Any) -> StudySpec:
    data: dict[str, Any] = {
        "name": "b",
        "entrypoint": {"python": "train:main"},
        "objective": {"metric": "dev_error"},
        "budget": {"trials": 13, "max_train_steps": 100, "seed": 3},
        "search": {"sampler": "bayes"},
        "scientific": {"dropout": {"values": [0.0, 0.1]}},
        "nuisance": {"learning_rate": {"low": 1e-4, "high": 0.3, "scale": "log"}},
    }
    data.update(overrides)
    return StudySpec.from_dict(data)


def test_design_creates_the_exploration_at_once_and_the_rest_in_batches() -> None:
    spec = make_spec()
    sampler = make_sampler("bayes", seed=3)
    cells = design.cells(spec)
    first, state = design.propose(spec, sampler, cells, {}, {}, batch=0)
    assert len(first) == 20  # 10 exploration trials per scientific value, paired
    by_cell = {c.key: [t for t in first if t.slot == c.key] for c in cells}
    a, b = by_cell.values()
    assert [t.params["learning_rate"] for t in a] == [t.params["learning_rate"] for t in b]
    counts = {k: len(v) for k, v in by_cell.items()}
    histories = {
        k: [Observation(t.params, float(t.slot_index)) for t in v] for k, v in by_cell.items()
    }
    more, state = design.propose(
        spec, sampler, cells, counts, state, histories=histories, batch=3
    )
    assert [(t.slot, t.slot_index) for t in more] == [
        (cells[0].key, 10), (cells[1].key, 10), (cells[0].key, 11)
    ]
    assert state["cells"][cells[0].key]["position"] == 12
    assert state["settings"]["algorithm"] == "gp"


def test_quasirandom_studies_still_create_every_trial_at_once() -> None:
    spec = make_spec(search={"sampler": "quasirandom"})
    new, _ = design.propose(spec, QuasiRandomSampler(seed=3), design.cells(spec), {}, {}, batch=0)
    assert len(new) == 26


@pytest.fixture
def toy_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(Path(__file__).parents[1] / "execution" / "toy.py", tmp_path / "toy.py")
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "toy.toml"
    path.write_text(
        textwrap.dedent(
            """
            name = "toy-bayes"
            [entrypoint]
            python = "toy:main"
            timeout = "2m"
            [objective]
            metric = "dev_error"
            goal = "minimize"
            [budget]
            trials = 14
            max_train_steps = 30
            seed = 0
            [search]
            sampler = "bayes"
            [nuisance]
            learning_rate = { low = 1e-4, high = 1.0, scale = "log" }
            """
        )
    )
    return path


def test_histories_mark_infeasible_failed_and_pending_trials(toy_study: Path) -> None:
    study = Study.open(load_spec(toy_study))
    created = study.ensure_trials()
    assert len(created) == 10  # the exploration only; the rest waits for results
    for state, value in [
        (TrialState.COMPLETE, 1.5),
        (TrialState.INFEASIBLE, None),
        (TrialState.FAILED, None),
    ]:
        trial = study.storage.claim_trial(study.record.id, worker="w", trial_dir="d{number}")
        assert trial is not None
        study.storage.finish_trial(trial.id, state, value=value)
    (history,) = study._histories(study.trials()).values()
    assert [(o.value, o.feasible, o.pending) for o in history[:4]] == [
        (1.5, True, False), (None, False, False), (None, True, False), (None, True, True)
    ]
    assert len(history) == 10


def test_runner_creates_bayes_trials_lazily_and_runs_them_all(toy_study: Path) -> None:
    from scitune.execution import Runner, StateCounts

    class Totals:
        def __init__(self) -> None:
            self.seen: list[int] = []

        def on_start(self, study: Study, counts: StateCounts) -> None:
            self.seen.append(counts.total)

        def on_update(self, counts: StateCounts, best: object) -> None:
            self.seen.append(counts.total)

        def on_trial_finished(self, trial: object) -> None: ...
        def on_message(self, text: str) -> None: ...

    study = Study.open(load_spec(toy_study))
    totals = Totals()
    summary = Runner(study, workers=2, ingest_interval=0.05, observer=totals).run()
    trials = study.trials()
    assert summary.counts.complete == 14 and len(trials) == 14
    # The progress total is the design's size from the start, not the trials created so far.
    assert totals.seen and set(totals.seen) == {14}
    assert all(t.state is TrialState.COMPLETE for t in trials)
    assert study.record.sampler_state["cells"]["{}"] == {
        "algorithm": "gp", "position": 14, "n_startup": 10
    }
    # Each Bayesian trial was proposed once nothing was pending and a slot was free: all but
    # at most one (the other worker's) of the trials before it had finished.
    for t in trials[10:]:
        done_before = sum(o.finished_at is not None and o.finished_at <= t.created_at
                          for o in trials)
        assert done_before >= t.number - 1, t.number
    explored = min(t.value for t in trials[:10] if t.value is not None)
    exploited = min(t.value for t in trials[10:] if t.value is not None)
    assert exploited < explored  # the toy's floor is at lr = 1e-2


def test_import_scitune_samplers_loads_neither_optuna_nor_torch() -> None:
    code = (
        "import sys, json, scitune, scitune.samplers as s, scitune.study; "
        "s.make_sampler('bayes'); "
        "print(json.dumps([m for m in ('optuna', 'torch') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_status_counts_the_trials_not_created_yet(toy_study: Path) -> None:
    from typer.testing import CliRunner

    from scitune.cli import app

    study = Study.open(load_spec(toy_study))
    assert len(study.ensure_trials()) == 10  # the other 4 wait for results
    runner = CliRunner()
    (listed,) = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    one = json.loads(runner.invoke(app, ["status", "toy-bayes", "--json"]).stdout)
    assert listed["counts"]["total"] == one["counts"]["total"] == one["planned"] == 14
    assert listed["counts"]["pending"] == 10
