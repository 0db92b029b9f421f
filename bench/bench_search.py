"""Search efficiency: best-found value versus number of trials, on analytic test functions.

    python bench/bench_search.py [--budget 40] [--seeds 5] [--quick] [--functions NAME ...]

Issue 5, item 4. Four searchers at the same budget, each over several seeds:

- quasirandom: scitune's ``QuasiRandomSampler`` (scrambled Halton);
- random: scitune's ``RandomSampler``;
- bayes: scitune's ``BayesSampler(algorithm="auto", n_startup=10)``, explore then exploit: the
  first 10 trials are the quasi-random ones, every later one comes from Optuna's GPSampler fed
  with the whole history. ``suggest`` is called one trial at a time with the history so far
  (the sequential setting: each result is known before the next trial is proposed);
- tpe: Optuna's ``TPESampler(seed=...)`` alone, plain ``ask``/``tell`` on an in-memory study
  (its own defaults: 10 random start-up trials, univariate TPE), log axes as ``log=True``.

The test functions, each with its known optimum (regret = best value found - optimum):

- branin (2-D, x1 in [-5, 10], x2 in [0, 15]): f* = 0.397887;
- hartmann6 (6-D, [0, 1]^6): f* = -3.32237;
- rosenbrock4 (4-D, [-5, 10]^4): f* = 0 at (1, 1, 1, 1);
- ackley5 (5-D, [-32.768, 32.768]^5): f* = 0 at the origin;
- logbowl (3-D, a learning-rate-like bowl: lr in [1e-5, 1] and weight decay in [1e-7, 1e-1]
  on log axes, momentum in [0, 0.99] linear): a quadratic in (log10 lr, log10 wd, momentum)
  with a tilted valley between lr and wd, f* = 0 at lr = 3e-3, wd = 1e-4, momentum = 0.9.
  Searched on a linear axis its optimum would sit in the first 0.3% of the lr range.

The table per function gives the median and the interquartile range (25th-75th percentile) over
seeds of the best regret after 10 and 20 trials and at the full budget. The summary line asks
the issue's question at the full budget: does explore-then-exploit's median regret at least
match TPE alone's (<=) and beat random search's (<)?

Timings are wall-clock on this machine; the GP's cost per trial dominates. ``--quick``: 20
trials, 3 seeds, branin and logbowl.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.table import Table

from scitune.samplers import BayesSampler, Observation, QuasiRandomSampler, RandomSampler
from scitune.space import FloatDomain, Space, Value

N_STARTUP = 10  # bayes: quasi-random exploration, then the GP
CHECKPOINTS = (10, 20)  # plus the full budget
METHODS = ("quasirandom", "random", "bayes", "tpe")

Config = Mapping[str, Value]


@dataclass(frozen=True)
class TestFunction:
    name: str
    domains: dict[str, FloatDomain]
    optimum: float
    f: Callable[[Config], float]

    def space(self) -> Space:
        return Space.build(self.domains)


def _x(config: Config, n: int) -> np.ndarray:
    return np.array([float(config[f"x{i}"]) for i in range(n)])  # type: ignore[arg-type]


def branin(config: Config) -> float:
    x1, x2 = _x(config, 2)
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return float(a * (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s)


_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann6(config: Config) -> float:
    x = _x(config, 6)
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def rosenbrock4(config: Config) -> float:
    x = _x(config, 4)
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def ackley5(config: Config) -> float:
    x = _x(config, 5)
    d = len(x)
    return float(
        -20.0 * math.exp(-0.2 * math.sqrt(np.sum(x**2) / d))
        - math.exp(np.sum(np.cos(2 * math.pi * x)) / d)
        + 20.0
        + math.e
    )


def logbowl(config: Config) -> float:
    u = math.log10(float(config["lr"])) - math.log10(3e-3)  # type: ignore[arg-type]
    v = math.log10(float(config["wd"])) - math.log10(1e-4)  # type: ignore[arg-type]
    m = (float(config["momentum"]) - 0.9) / 0.3  # type: ignore[arg-type]
    # A tilted valley (lr and wd trade off), as real learning-rate landscapes have.
    return float(u**2 + 0.5 * (v + 0.5 * u) ** 2 + m**2)


FUNCTIONS: dict[str, TestFunction] = {
    f.name: f
    for f in (
        TestFunction(
            "branin",
            {"x0": FloatDomain(-5.0, 10.0), "x1": FloatDomain(0.0, 15.0)},
            0.397887357729738,
            branin,
        ),
        TestFunction(
            "hartmann6", {f"x{i}": FloatDomain(0.0, 1.0) for i in range(6)}, -3.32237, hartmann6
        ),
        TestFunction(
            "rosenbrock4", {f"x{i}": FloatDomain(-5.0, 10.0) for i in range(4)}, 0.0, rosenbrock4
        ),
        TestFunction(
            "ackley5", {f"x{i}": FloatDomain(-32.768, 32.768) for i in range(5)}, 0.0, ackley5
        ),
        TestFunction(
            "logbowl",
            {
                "lr": FloatDomain(1e-5, 1.0, "log"),
                "wd": FloatDomain(1e-7, 1e-1, "log"),
                "momentum": FloatDomain(0.0, 0.99),
            },
            0.0,
            logbowl,
        ),
    )
}


# -- the searchers: each returns the objective values of its `budget` trials, in order ---------
def run_unit_cube(fn: TestFunction, sampler: QuasiRandomSampler | RandomSampler, budget: int):
    configs = sampler.suggest(fn.space(), [], budget, state={}).configs
    return [fn.f(c) for c in configs]


def run_bayes(fn: TestFunction, seed: int, budget: int) -> list[float]:
    sampler = BayesSampler(seed=seed, algorithm="auto", goal="minimize", n_startup=N_STARTUP)
    space = fn.space()
    history: list[Observation] = []
    state: dict = {}
    for _ in range(budget):
        suggestion = sampler.suggest(space, history, 1, state=state)
        state = suggestion.state
        config = suggestion.configs[0]
        history.append(Observation(config, fn.f(config)))
    return [float(o.value) for o in history if o.value is not None]


def run_tpe(fn: TestFunction, seed: int, budget: int) -> list[float]:
    import optuna

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    values = []
    for _ in range(budget):
        trial = study.ask()
        config = {
            name: trial.suggest_float(name, d.low, d.high, log=d.scale == "log")
            for name, d in fn.domains.items()
        }
        value = fn.f(config)
        study.tell(trial, value)
        values.append(value)
    return values


def run(method: str, fn: TestFunction, seed: int, budget: int) -> list[float]:
    if method == "quasirandom":
        return run_unit_cube(fn, QuasiRandomSampler(seed=seed), budget)
    if method == "random":
        return run_unit_cube(fn, RandomSampler(seed=seed), budget)
    if method == "bayes":
        return run_bayes(fn, seed, budget)
    if method == "tpe":
        return run_tpe(fn, seed, budget)
    raise ValueError(method)


# -- statistics and printing -------------------------------------------------------------------
def best_regret(values: list[float], optimum: float) -> np.ndarray:
    return np.minimum.accumulate(np.asarray(values)) - optimum


def fmt(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 1e4 or abs(x) < 1e-3:
        return f"{x:.2e}"
    return f"{x:.3g}"


def cell(regrets: np.ndarray) -> str:
    q25, q50, q75 = np.percentile(regrets, [25, 50, 75])
    return f"{fmt(q50)} [{fmt(q25)}, {fmt(q75)}]"


def results_table(title: str, best: dict[str, np.ndarray], checkpoints: list[int]) -> Table:
    """Median [IQR] over seeds of each searcher's best-so-far (rows: seeds) at each checkpoint."""
    table = Table(title=title)
    table.add_column("searcher")
    for c in checkpoints:
        table.add_column(f"{c} trials", justify="right")
    for method, rows in best.items():
        table.add_row(method, *(cell(rows[:, c - 1]) for c in checkpoints))
    return table


def verdict(final: dict[str, float], what: str) -> tuple[bool, bool, str]:
    """The issue's question on median final values: bayes <= TPE alone, bayes < random."""
    matches_tpe = final["bayes"] <= final["tpe"]
    beats_random = final["bayes"] < final["random"]
    text = (
        f"explore-then-exploit {fmt(final['bayes'])} vs TPE alone {fmt(final['tpe'])} -> "
        f"{'matches' if matches_tpe else 'does NOT match'} TPE; vs random "
        f"{fmt(final['random'])} -> {'beats' if beats_random else 'does NOT beat'} random "
        f"({what})"
    )
    return matches_tpe, beats_random, text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=int, default=40, help="trials per run (default 40)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per searcher (default 5)")
    parser.add_argument("--functions", nargs="+", choices=sorted(FUNCTIONS), default=None)
    parser.add_argument("--quick", action="store_true", help="20 trials, 3 seeds, 2 functions")
    args = parser.parse_args(argv)
    budget, n_seeds = args.budget, args.seeds
    names = args.functions or list(FUNCTIONS)
    if args.quick:
        budget, n_seeds = 20, 3
        names = args.functions or ["branin", "logbowl"]
    if budget < 1 or n_seeds < 1:
        parser.error("--budget and --seeds must be >= 1")

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)

    console = Console()
    if not console.is_terminal:  # piped: room for the summary lines
        console = Console(width=120)
    console.print(
        f"[bold]Search efficiency[/bold]: {budget} trials x {n_seeds} seeds x {len(names)} "
        f"functions; bayes = {N_STARTUP} quasi-random then Optuna GP (sequential), "
        f"tpe = Optuna TPESampler alone. Python {platform.python_version()}, "
        f"optuna {optuna.__version__}, {os.cpu_count()} CPUs."
    )
    checkpoints = sorted({c for c in CHECKPOINTS if c < budget} | {budget})
    seconds = dict.fromkeys(METHODS, 0.0)
    start = time.perf_counter()
    verdicts = []
    for name in names:
        fn = FUNCTIONS[name]
        regrets: dict[str, np.ndarray] = {}  # method -> (seeds, budget)
        for method in METHODS:
            rows = []
            for seed in range(n_seeds):
                t0 = time.perf_counter()
                values = run(method, fn, seed, budget)
                seconds[method] += time.perf_counter() - t0
                rows.append(best_regret(values, fn.optimum))
            regrets[method] = np.array(rows)
        title = (
            f"{name} ({len(fn.domains)}-D, f* = {fn.optimum:g}): best regret, "
            f"median [IQR] over {n_seeds} seeds"
        )
        console.print(results_table(title, regrets, checkpoints))
        final = {m: float(np.median(regrets[m][:, -1])) for m in METHODS}
        matches_tpe, beats_random, text = verdict(final, f"median regret at {budget} trials")
        verdicts.append((matches_tpe, beats_random))
        console.print(f"{name}: {text}")
    total = time.perf_counter() - start
    console.print(
        f"\nOverall: bayes matches TPE alone on {sum(v[0] for v in verdicts)}/{len(verdicts)} "
        f"functions, beats random on {sum(v[1] for v in verdicts)}/{len(verdicts)}."
    )
    console.print(
        f"Wall time {total:.0f} s ("
        + ", ".join(f"{m} {s:.1f} s" for m, s in seconds.items())
        + ")."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
