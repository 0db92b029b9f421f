"""Search efficiency on real training: the MNIST-1D CNN's best dev error versus number of trials.

    python bench/bench_search_mnist1d.py [--budget 20] [--seeds 3] [--steps 1500] [--workers 2]

Issue 5, item 4, the MNIST-1D part (``bench_search.py`` has the analytic functions, and this
reuses its four searchers unchanged: quasirandom, random, bayes = 10 quasi-random trials then
Optuna's GP on the whole history, and Optuna's TPE alone).

Each trial trains the paper's CNN (3 conv layers x 25 channels) with AdamW and a cosine schedule
for ``--steps`` steps of batch 100 and returns its best dev error (the 400-example dev split,
as a study scores it). Searched: learning rate (log, 1e-4 .. 1e-1), weight decay (log,
1e-4 .. 1) and dropout (0 .. 0.5): the campaign's space (examples/mnist1d/campaign). The
training seed is the same (0) for every trial, so a configuration always gets the same score
and the searchers differ only in the configurations they pick.

The runs (searcher x seed) are spread over ``--workers`` processes; within a run the trials are
sequential, each proposed after the previous result (the sequential setting). Each process
trains on one thread. The table gives the median and the interquartile range over seeds of the
best dev error after 5 and 10 trials and at the full budget; the summary line asks the issue's
question at the full budget: does explore-then-exploit's median at least match TPE alone's and
beat random search's?
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from rich.console import Console

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))

from bench_search import (
    METHODS,
    N_STARTUP,
    Config,
    TestFunction,
    results_table,
    run,
    verdict,
)

from scitune.space import FloatDomain

CHECKPOINTS = (5, 10)
FIXED = {
    "model": "cnn",
    "optimizer": "adamw",
    "lr_schedule": "cosine",
    "batch_size": 100,
    "eval_every": 100,
}
DOMAINS = {
    "learning_rate": FloatDomain(1e-4, 1e-1, "log"),
    "weight_decay": FloatDomain(1e-4, 1.0, "log"),
    "dropout": FloatDomain(0.0, 0.5),
}
_steps = 1500  # set in each worker by _init


def _init(steps: int) -> None:
    global _steps
    _steps = steps
    import torch

    torch.set_num_threads(1)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)


def best_dev_error(config: Config) -> float:
    """Train one configuration; its best dev error over training (1.0 if it was infeasible)."""
    from examples.mnist1d.train import run_standalone

    with tempfile.TemporaryDirectory(prefix="bench-mnist1d-") as directory:
        points, reason, _ = run_standalone(
            {**FIXED, **config}, steps=_steps, seed=0, directory=directory
        )
    if reason is not None:
        return 1.0  # a dead network: worse than any trained one, never the best
    errors = [p["dev_error"] for p in points if "dev_error" in p]
    return float(min(errors)) if errors else 1.0


MNIST1D = TestFunction("mnist1d-cnn", DOMAINS, 0.0, best_dev_error)


def _one(job: tuple[str, int, int]) -> tuple[str, int, list[float], float]:
    method, seed, budget = job
    t0 = time.perf_counter()
    values = run(method, MNIST1D, seed, budget)
    return method, seed, values, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=int, default=20, help="trials per run (default 20)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per searcher (default 3)")
    parser.add_argument("--steps", type=int, default=1500, help="steps per trial (default 1500)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument(
        "--methods", nargs="+", choices=METHODS, default=list(METHODS), help="default: all four"
    )
    args = parser.parse_args(argv)
    methods = [m for m in METHODS if m in args.methods]
    if min(args.budget, args.seeds, args.steps, args.workers) < 1:
        parser.error("--budget, --seeds, --steps and --workers must be >= 1")
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    console.print(
        f"[bold]Search efficiency on MNIST-1D[/bold]: the paper's CNN, {args.steps} steps per "
        f"trial, {args.budget} trials x {args.seeds} seeds per searcher; bayes = {N_STARTUP} "
        f"quasi-random then Optuna GP. Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {args.workers} processes."
    )
    jobs = [(m, s, args.budget) for s in range(args.seeds) for m in methods]
    values: dict[str, dict[int, list[float]]] = {m: {} for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers, initializer=_init, initargs=(args.steps,)) as pool:
        for method, seed, vals, s in pool.map(_one, jobs):
            values[method][seed] = vals
            seconds[method] += s
            console.print(f"  {method} seed {seed}: best {min(vals):.4f} ({s:.0f} s)")
    best = {
        m: np.array([np.minimum.accumulate(values[m][s]) for s in range(args.seeds)])
        for m in methods
    }
    checkpoints = sorted({c for c in CHECKPOINTS if c < args.budget} | {args.budget})
    title = f"best dev error, median [IQR] over {args.seeds} seeds"
    console.print(results_table(title, best, checkpoints))
    final = {m: float(np.median(best[m][:, -1])) for m in methods}
    if {"bayes", "tpe", "random"} <= set(final):  # the verdict needs all three
        what = f"median best dev error at {args.budget} trials"
        console.print(verdict(final, what)[2] + ".")
    console.print(
        f"Wall time {time.perf_counter() - start:.0f} s; CPU time per searcher: "
        + ", ".join(f"{m} {s:.0f} s" for m, s in seconds.items())
        + "."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
