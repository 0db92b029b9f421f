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
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

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


def generate(url: str, trials: int, steps: int, seed: int = 0) -> tuple[StudySpec, float]:
    """Write the synthetic study to ``url``; returns the spec and the seconds it took."""
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
    for k in range(len(new)):
        trial = store.claim_trial(record.id, worker="bench", trial_dir="/tmp/bench/{number}")
        assert trial is not None
        p = trial.params
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
    return spec, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--quick", action="store_true", help="1,000 trials (a smoke run)")
    parser.add_argument("--out", type=Path, default=None, help="where to keep the report")
    args = parser.parse_args(argv)
    trials = 1_000 if args.quick else args.trials

    from scitune.analysis import AnalysisConfig, StudySnapshot, analyze
    from scitune.report import write_report
    from scitune.study import Study

    with tempfile.TemporaryDirectory(prefix="scitune-bench-") as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        console.print(
            f"Writing {trials:,} trials x {args.steps:,} steps x 4 metrics to {url} (not timed)..."
        )
        spec, gen_s = generate(url, trials, args.steps)
        console.print(f"  written in {gen_s:.1f} s")
        out = args.out or Path(tmp) / "report.html"

        timings: list[tuple[str, float]] = []
        t0 = time.perf_counter()
        store = open_storage(url)
        study = Study.open(spec, store)
        snapshot = StudySnapshot.from_study(study)
        timings.append(("a) snapshot: StudySnapshot.from_study", time.perf_counter() - t0))

        t0 = time.perf_counter()
        config = AnalysisConfig()
        analysis = analyze(snapshot, config)
        timings.append(("b) analyze", time.perf_counter() - t0))

        t0 = time.perf_counter()
        path = write_report(analysis, snapshot, out)
        timings.append(("c) write_report", time.perf_counter() - t0))
        store.close()
        size_mb = path.stat().st_size / 1e6

        points = sum(len(c) for per in snapshot.curves.values() for c in per.values())
        total = sum(s for _, s in timings)
        table = Table(title=f"analyze + report: {len(snapshot.trials):,} trials, {points:,} points")
        table.add_column("step")
        table.add_column("seconds", justify="right")
        for name, seconds in timings:
            table.add_row(name, f"{seconds:.2f}")
        table.add_row("[bold]total[/]", f"[bold]{total:.2f}[/]")
        console.print(table)
        met_time = total <= TARGET_TOTAL_S
        met_size = size_mb <= TARGET_REPORT_MB
        console.print(
            f"total {total:.2f} s (target <= {TARGET_TOTAL_S:g} s: "
            f"{'met' if met_time else 'NOT met'}); report {size_mb:.1f} MB "
            f"(target <= {TARGET_REPORT_MB:g} MB: {'met' if met_size else 'NOT met'}); "
            f"{len(analysis.findings)} findings"
        )
        console.print(
            f"[dim]{platform.python_implementation()} {platform.python_version()}, "
            f"{platform.machine()}, {platform.system()}[/]"
        )
        if args.out:
            console.print(f"report kept at {path}")
    return 0 if (met_time and met_size) or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
