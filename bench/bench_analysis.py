"""How long `scitune analyze` and `scitune report` take on a big study; how big the report is.

    python bench/bench_analysis.py [--trials 10000] [--steps 1000] [--quick] [--out report.html]

A synthetic study of 10,000 trials x 1,000 logged steps x 4 metrics (dev_error, train_loss,
grad_norm, lr) is written to a real SQLite store the way the runner writes it (``add_trials``,
``claim_trial``, ``add_measurements`` once per trial, ``finish_trial``); ~5% of the trials
diverge (NaN after some step, INFEASIBLE) and ~1% crash (FAILED). Writing it is not timed. Then,
each timed on its own:

a) snapshot: ``StudySnapshot.from_study`` (every trial and every curve, 40M points, from SQLite);
b) analyze: ``scitune.analysis.analyze`` with the default ``AnalysisConfig``;
c) report: ``scitune.report.write_report`` (figures, downsampled curves, the HTML file).

Targets (issue 3): the three together <= 20 s and the report <= 20 MB. Timings are wall-clock
on this machine.

The peer, measured in the same run (STYLE.md, "Tests"): Optuna's closest equivalent of
``analyze`` + ``report``. The same synthetic trials (the four searched hyperparameters, with
``dropout`` categorical; the ``dev_error`` curve as intermediate values; the objective value =
the best ``dev_error``, as scitune scores it) go into an Optuna study on ``InMemoryStorage``
through ``create_trial`` + ``add_trials`` (not timed). A diverged trial becomes PRUNED with its
curve up to the divergence (Optuna's way to keep a stopped trial's curve), a crashed one FAIL;
the rest COMPLETE. Timed: ``plot_slice`` (the axis plots), ``plot_intermediate_values`` (the
training curves) and ``plot_optimization_history``, each written with
``fig.write_html(path, include_plotlyjs=True)``. Both sides are measured at 1,000 trials, and at
``--trials`` when the 1,000-trial Optuna run says it would finish within 3 minutes (otherwise
the ratio there compares seconds per trial). A tiny study through both pipelines first, not
timed, pays the one-off imports, so neither side is charged for them. The ratio is Optuna's
seconds over scitune's: how many times faster scitune is.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from scitune.scoring import score
from scitune.space import FloatDomain
from scitune.spec import StudySpec
from scitune.storage import Curve, NewTrial, TrialState, open_storage

TARGET_TOTAL_S = 20.0
TARGET_REPORT_MB = 20.0
DROPOUT = (0.0, 0.1, 0.2, 0.3)
COMPARE_TRIALS = 1_000  # both sides, always
OPTUNA_BUDGET_S = 180.0  # Optuna at --trials only if the 1,000-trial run says it fits in this
SEARCHED = ("dropout", "learning_rate", "weight_decay", "beta1")

console = Console(width=120)


def make_spec(trials: int, steps: int) -> StudySpec:
    return StudySpec.from_dict(
        {
            "name": "bench-analysis",
            "goal": "Does dropout help once learning rate and weight decay are tuned?",
            "entrypoint": {"python": "bench.toy:main"},
            "objective": {"metric": "dev_error", "goal": "minimize"},
            "budget": {"trials": max(1, trials // len(DROPOUT)), "max_train_steps": steps},
            "scientific": {"dropout": {"values": list(DROPOUT)}},
            "nuisance": {
                "learning_rate": {"low": 1e-4, "high": 1.0, "scale": "log"},
                "weight_decay": {"low": 1e-6, "high": 1e-2, "scale": "log"},
                "beta1": {"low": 0.5, "high": 0.99, "scale": "reverse_log"},
            },
            "fixed": {"optimizer": "adam", "batch_size": 128},
        }
    )


@dataclass(frozen=True)
class PeerTrial:
    """One synthetic trial as the peer gets it: what Optuna would have recorded."""

    params: dict[str, Any]  # the searched hyperparameters only
    state: TrialState
    dev_error: np.ndarray  # one value per step from step 1; NaN from a divergence on


def generate(
    url: str, trials: int, steps: int, seed: int = 0
) -> tuple[StudySpec, float, list[PeerTrial]]:
    """Write the synthetic study to ``url``; returns the spec, the seconds it took, the trials."""
    from scitune.study import Study

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    spec = make_spec(trials, steps)
    store = open_storage(url)
    record = Study.open(spec, store).record
    lr_d = FloatDomain(1e-4, 1.0, "log")
    wd_d = FloatDomain(1e-6, 1e-2, "log")
    b1_d = FloatDomain(0.5, 0.99, "reverse_log")
    per_value = trials // len(DROPOUT)
    units = rng.random((per_value, 3))
    new: list[NewTrial] = []
    for dropout in DROPOUT:
        for i in range(per_value):
            params = {
                "dropout": dropout,
                "learning_rate": lr_d.from_unit(units[i, 0]),
                "weight_decay": wd_d.from_unit(units[i, 1]),
                "beta1": b1_d.from_unit(units[i, 2]),
                "optimizer": "adam",
                "batch_size": 128,
            }
            new.append(NewTrial(params, seed=i, slot=f'{{"dropout": {dropout}}}', slot_index=i))
    store.add_trials(record.id, new, sampler_state={}, expected_version=record.state_version)

    step_grid = np.arange(1, steps + 1, dtype=np.int64)
    t = step_grid / steps
    peers: list[PeerTrial] = []
    for k in range(len(new)):
        trial = store.claim_trial(record.id, worker="bench", trial_dir="/tmp/bench/{number}")
        assert trial is not None
        p = trial.params
        searched = {name: p[name] for name in SEARCHED}
        lr, wd = float(p["learning_rate"]), float(p["weight_decay"])
        level = 0.05 + 0.3 * (math.log10(lr) + 1.3) ** 2 / 9 + 0.02 * abs(math.log10(wd) + 4)
        level += 0.01 * abs(float(p["dropout"]) - 0.1) * 10
        speed = 2 + 30 * min(lr, 0.3)
        dev = level + 0.8 * np.exp(-speed * t * 3) + rng.normal(0, 0.003, steps)
        dev += 0.03 * np.clip(t - 0.6, 0, None) * (p["dropout"] == 0.0)
        train = 2.3 * np.exp(-speed * t * 4) + level / 2 + np.abs(rng.normal(0, 0.01, steps))
        norm = 1 + 3 * np.exp(-t * 3) + rng.gamma(2.0, 0.2, steps)
        sched = lr * np.minimum(1.0, (1.0 - t) * 1.2)
        state, reason, stderr = TrialState.COMPLETE, None, None
        if lr > 0.3:  # diverges
            cut = int(rng.integers(20, steps // 2))
            dev[cut:] = np.nan
            train[cut:] = np.inf
            norm[cut:] = np.inf
            state, reason = TrialState.INFEASIBLE, f"loss is NaN at step {cut + 1}"
        elif k % 97 == 13:  # crashes halfway
            half = steps // 2
            metrics = {"dev_error": dev, "train_loss": train, "grad_norm": norm, "lr": sched}
            peers.append(PeerTrial(searched, TrialState.FAILED, dev[:half]))
            store.add_measurements(
                trial.id, {m: (step_grid[:half], v[:half]) for m, v in metrics.items()}
            )
            store.finish_trial(
                trial.id,
                TrialState.FAILED,
                reason="exit code 1",
                stderr_tail="Traceback (most recent call last):\n  ...\nRuntimeError: CUDA error",
            )
            continue
        batch = {
            "dev_error": (step_grid, dev),
            "train_loss": (step_grid, train),
            "grad_norm": (step_grid, norm),
            "lr": (step_grid, sched),
        }
        store.add_measurements(trial.id, batch)
        peers.append(PeerTrial(searched, state, dev))
        s = score(Curve(step_grid, dev)) if state is TrialState.COMPLETE else None
        store.finish_trial(
            trial.id,
            state,
            value=s.value if s else None,
            value_step=s.step if s else None,
            reason=reason,
            stderr_tail=stderr,
        )
    store.close()
    return spec, time.perf_counter() - started, peers


# -- scitune ------------------------------------------------------------------------------------
@dataclass
class Run:
    """One size: scitune's three steps, and Optuna's three plots when they were measured."""

    trials: int
    points: int
    timings: list[tuple[str, float]]
    report_mb: float
    findings: int
    optuna: dict[str, float] | None = None  # plot -> seconds, built and written
    optuna_mb: float = 0.0
    optuna_build_s: float = 0.0
    optuna_estimate_s: float | None = None  # when Optuna was skipped: what it would have taken

    @property
    def scitune_s(self) -> float:
        return sum(s for _, s in self.timings)

    @property
    def optuna_s(self) -> float:
        assert self.optuna is not None
        return sum(self.optuna.values())


def time_scitune(url: str, spec: StudySpec, out: Path) -> Run:
    """Time snapshot, analyze and write_report on the study at ``url``."""
    from scitune.analysis import AnalysisConfig, StudySnapshot, analyze
    from scitune.report import write_report
    from scitune.study import Study

    timings: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    store = open_storage(url)
    study = Study.open(spec, store)
    snapshot = StudySnapshot.from_study(study)
    timings.append(("a) snapshot: StudySnapshot.from_study", time.perf_counter() - t0))

    t0 = time.perf_counter()
    analysis = analyze(snapshot, AnalysisConfig())
    timings.append(("b) analyze", time.perf_counter() - t0))

    t0 = time.perf_counter()
    path = write_report(analysis, snapshot, out)
    timings.append(("c) write_report", time.perf_counter() - t0))
    store.close()

    points = sum(len(c) for per in snapshot.curves.values() for c in per.values())
    size_mb = path.stat().st_size / 1e6
    return Run(len(snapshot.trials), points, timings, size_mb, len(analysis.findings))


# -- the peer: Optuna ---------------------------------------------------------------------------
def _optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def optuna_study(peers: list[PeerTrial]) -> Any:
    """The same trials in an Optuna study on ``InMemoryStorage`` (not timed)."""
    optuna = _optuna()
    dist = optuna.distributions
    distributions = {
        "dropout": dist.CategoricalDistribution(DROPOUT),
        "learning_rate": dist.FloatDistribution(1e-4, 1.0, log=True),
        "weight_decay": dist.FloatDistribution(1e-6, 1e-2, log=True),
        "beta1": dist.FloatDistribution(0.5, 0.99),  # Optuna has no reverse-log scale
    }
    states = {
        TrialState.COMPLETE: optuna.trial.TrialState.COMPLETE,
        TrialState.INFEASIBLE: optuna.trial.TrialState.PRUNED,  # its curve up to the NaN
        TrialState.FAILED: optuna.trial.TrialState.FAIL,
    }
    frozen = []
    for peer in peers:
        finite = np.isfinite(peer.dev_error)
        n = len(finite) if finite.all() else int(np.argmin(finite))
        curve = peer.dev_error[:n]
        state = states[peer.state]
        complete = state == optuna.trial.TrialState.COMPLETE
        frozen.append(
            optuna.trial.create_trial(
                params=peer.params,
                distributions=distributions,
                value=float(curve.min()) if complete else None,  # = scitune's best-step score
                intermediate_values=dict(zip(range(1, n + 1), curve.tolist(), strict=True)),
                state=state,
            )
        )
    study = optuna.create_study(
        storage=optuna.storages.InMemoryStorage(), direction="minimize", study_name="bench"
    )
    study.add_trials(frozen)
    return study


def time_optuna(study: Any, folder: Path) -> tuple[dict[str, float], int]:
    """Seconds of each plot, built and written as standalone HTML; the bytes of the three files."""
    from optuna.visualization import (
        plot_intermediate_values,
        plot_optimization_history,
        plot_slice,
    )

    folder.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    size = 0
    for plot in (plot_slice, plot_intermediate_values, plot_optimization_history):
        path = folder / f"{plot.__name__}.html"
        t0 = time.perf_counter()
        plot(study).write_html(path, include_plotlyjs=True)
        seconds[plot.__name__] = time.perf_counter() - t0
        size += path.stat().st_size
    return seconds, size


def measure(
    folder: Path, trials: int, steps: int, *, out: Path | None, with_optuna: bool = True
) -> Run:
    """Write one synthetic study and time scitune on it, then (``with_optuna``) Optuna."""
    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{folder}/bench.db"
    console.print(f"Writing {trials:,} trials x {steps:,} steps x 4 metrics (not timed) ...")
    spec, gen_s, peers = generate(url, trials, steps)
    console.print(f"  written to {url} in {gen_s:.1f} s; timing scitune ...")
    run = time_scitune(url, spec, out or folder / "report.html")
    if not with_optuna:
        return run
    console.print(f"  building the Optuna study ({len(peers):,} trials, not timed) ...")
    t0 = time.perf_counter()
    study = optuna_study(peers)
    run.optuna_build_s = time.perf_counter() - t0
    del peers
    console.print(f"  built in {run.optuna_build_s:.1f} s; timing Optuna ...")
    run.optuna, size = time_optuna(study, folder / "optuna")
    run.optuna_mb = size / 1e6
    return run


def optuna_estimate_s(reference: Run, trials: int) -> float:
    """Seconds Optuna would take at ``trials`` (building included), scaled linearly."""
    return (reference.optuna_build_s + reference.optuna_s) / reference.trials * trials


# -- the report ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument(
        "--quick", action="store_true", help="only the 1,000-trial comparison (a smoke run)"
    )
    parser.add_argument("--out", type=Path, default=None, help="where to keep the report")
    args = parser.parse_args(argv)
    trials = COMPARE_TRIALS if args.quick else args.trials
    sizes = sorted({COMPARE_TRIALS, trials})

    optuna = _optuna()
    console.print(
        f"[bold]scitune analyze + report vs Optuna {optuna.__version__} plots[/] - "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
        f"{' (--quick)' if args.quick else ''}"
    )
    runs: dict[int, Run] = {}
    with tempfile.TemporaryDirectory(prefix="scitune-bench-") as tmp:
        folder = Path(tmp)
        console.print("Warm-up: 40 trials through both pipelines (not timed) ...")
        measure(folder / "warm-up", 40, 50, out=None)
        for n in sizes:  # ascending: 1,000 first, to decide on the bigger size
            estimate = None
            if n > COMPARE_TRIALS:
                estimate = optuna_estimate_s(runs[COMPARE_TRIALS], n)
            with_optuna = estimate is None or estimate < OPTUNA_BUDGET_S
            out = args.out if n == trials else None
            runs[n] = measure(folder / f"{n}", n, args.steps, out=out, with_optuna=with_optuna)
            if not with_optuna:
                runs[n].optuna_estimate_s = estimate

        main_run = runs[trials]
        table = Table(
            title=f"analyze + report: {main_run.trials:,} trials, {main_run.points:,} points"
        )
        table.add_column("step")
        table.add_column("seconds", justify="right")
        for name, seconds in main_run.timings:
            table.add_row(name, f"{seconds:.2f}")
        table.add_row("[bold]total[/]", f"[bold]{main_run.scitune_s:.2f}[/]")
        console.print(table)
        met_time = main_run.scitune_s <= TARGET_TOTAL_S
        met_size = main_run.report_mb <= TARGET_REPORT_MB
        console.print(
            f"total {main_run.scitune_s:.2f} s (target <= {TARGET_TOTAL_S:g} s: "
            f"{'met' if met_time else 'NOT met'}); report {main_run.report_mb:.1f} MB "
            f"(target <= {TARGET_REPORT_MB:g} MB: {'met' if met_size else 'NOT met'}); "
            f"{main_run.findings} findings"
        )
        print_comparison(runs)
        console.print(
            f"[dim]{platform.python_implementation()} {platform.python_version()}, "
            f"{platform.machine()}, {platform.system()}[/]"
        )
        if args.out:
            console.print(f"report kept at {args.out}")
    return 0 if (met_time and met_size) or args.quick else 1


def print_comparison(runs: dict[int, Run]) -> None:
    """The second table: scitune against Optuna's plots, size by size, and what it means."""
    from plotly.offline import get_plotlyjs

    reference = runs[COMPARE_TRIALS]
    table = Table(
        title="scitune analyze + report vs Optuna plot_slice + plot_intermediate_values + "
        "plot_optimization_history (ratio: Optuna / scitune)"
    )
    columns = ("size (trials)", "scitune s", "Optuna s", "ratio", "scitune report MB")
    for column in (*columns, "Optuna HTML MB"):
        table.add_column(column, justify="right")
    notes: list[str] = []
    for n, run in runs.items():
        if run.optuna is not None:
            optuna_s, ratio = f"{run.optuna_s:.2f}", f"{run.optuna_s / run.scitune_s:,.1f}x"
            optuna_mb = f"{run.optuna_mb:.1f}"
            parts = ", ".join(f"{name} {s:.2f} s" for name, s in run.optuna.items())
            notes.append(f"Optuna at {n:,} trials: {parts}.")
        else:
            assert reference.optuna is not None and run.optuna_estimate_s is not None
            per_trial = (reference.optuna_s / reference.trials) / (run.scitune_s / run.trials)
            optuna_s = f"skipped (~{run.optuna_estimate_s:.0f} s est.)"
            ratio = f"{per_trial:,.1f}x per trial*"
            optuna_mb = "skipped"
            notes.append(
                f"* Optuna at {n:,} trials was skipped: the {reference.trials:,}-trial run "
                f"(building + plots) extrapolates to ~{run.optuna_estimate_s:.0f} s "
                f"(>= {OPTUNA_BUDGET_S:.0f} s). The ratio compares seconds per trial: Optuna's "
                f"at {reference.trials:,} trials, scitune's at {n:,}."
            )
        table.add_row(
            f"{n:,}", f"{run.scitune_s:.2f}", optuna_s, ratio, f"{run.report_mb:.1f}", optuna_mb
        )
    console.print(table)
    plotly_mb = len(get_plotlyjs().encode()) / 1e6
    for note in [
        *notes,
        "scitune s = snapshot from SQLite + analyze + write_report; Optuna s = the three plots "
        "built and written, reading trials from InMemoryStorage (no load step).",
        "scitune's report also contains findings, isolation, best-of-k, small multiples and "
        "gradient-norm plots that Optuna does not produce, so the ratio understates scitune's "
        "lead per unit of output.",
        f"Each Optuna file embeds plotly.js ({plotly_mb:.1f} MB), three copies in all; "
        "scitune's report embeds it once.",
    ]:
        console.print(f"- {note}")


if __name__ == "__main__":
    sys.exit(main())
