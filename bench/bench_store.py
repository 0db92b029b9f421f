"""How fast the trial store is, against Optuna 5's RDBStorage on the same kind of SQLite file.

    python bench/bench_store.py [--quick]

Three measurements, each on a fresh, durable SQLite file in a temporary folder (every write is
committed before the next one starts):

a) bookkeeping of one trial: scitune ``add_trials([one]) -> claim_trial -> finish_trial`` (also
   with ``QuasiRandomSampler.suggest`` in the loop) against Optuna ``study.ask()`` + three
   ``suggest_float`` + ``study.tell()`` (QMC sampler, Halton, the same three hyperparameters);
b) ingestion: points per second through ``add_measurements`` (one batch per trial, 4 metrics x
   250 steps, as the runner ingests a metrics file) against ``trial.report(value, step)``;
c) read-back: every curve of 1,000 trials x 100 points (``get_curves``) against
   ``study.get_trials()`` with their intermediate values.

Optuna runs with its default SQLite settings (rollback journal, ``synchronous=FULL``: an fsync
per commit, a commit survives a power cut). scitune runs WAL with ``synchronous=NORMAL`` (a commit
survives a crash of the process; a power cut may lose the last ones). The rows marked "Optuna,
WAL" give Optuna the same settings, so the ratio there is about the code, not the fsyncs.
Timings are wall-clock on this machine; compare ratios, not absolute figures, across machines.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
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

from scitune.storage import NewTrial, TrialState, open_storage

TARGET_BOOKKEEPING_MS = 0.5  # per trial
TARGET_INGEST_PPS = 1_000_000  # points per second
TARGET_READ_S = 0.05  # 1,000 trials x 100 points
OPTUNA_BUDGET_S = 180.0  # Optuna at 10,000 trials only if it would take less than this

console = Console(width=150)


@dataclass
class Row:
    what: str
    scitune: str
    optuna: str
    ratio: str
    target: str = ""
    met: str = ""


# -- helpers ------------------------------------------------------------------------------------
def _space() -> Any:
    from scitune.space import FloatDomain, Space

    return Space.build(
        {
            "lr": FloatDomain(1e-4, 0.3, "log"),
            "wd": FloatDomain(1e-6, 1e-2, "log"),
            "dropout": FloatDomain(0.0, 0.5, "linear"),
        }
    )


def _quasi_random() -> Any | None:
    try:
        from scitune.samplers import QuasiRandomSampler
    except ImportError:  # not written yet: the storage-only loop still runs
        return None
    return QuasiRandomSampler(seed=0)


def _optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def _optuna_storage(path: Path, *, wal: bool) -> Any:
    optuna = _optuna()
    storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
    if wal:  # the same settings as scitune's store, on every new connection
        import sqlalchemy

        def pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

        sqlalchemy.event.listen(storage.engine, "connect", pragmas)
        storage.engine.dispose()
    return storage


def _optuna_study(path: Path, *, wal: bool = False, sampler: Any = None) -> Any:
    optuna = _optuna()
    return optuna.create_study(
        storage=_optuna_storage(path, wal=wal), sampler=sampler, study_name="bench"
    )


def _optuna_qmc() -> Any:
    return _optuna().samplers.QMCSampler(qmc_type="halton", scramble=True, seed=0)


def _ms(seconds: float, n: int) -> float:
    return seconds / n * 1e3


def _fmt_ms(ms: float) -> str:
    return f"{ms:.3f} ms" if ms < 10 else f"{ms:.1f} ms"


def _fmt_pps(pps: float) -> str:
    return f"{pps / 1e6:.2f} M pts/s" if pps >= 1e5 else f"{pps:,.0f} pts/s"


def _ok(met: bool) -> str:
    return "[green]yes[/]" if met else "[red]no[/]"


# -- a) bookkeeping -----------------------------------------------------------------------------
def scitune_bookkeeping(folder: Path, n: int, *, with_sampler: bool) -> float:
    """Seconds for ``n`` trials, each: (suggest) -> add_trials -> claim_trial -> finish_trial."""
    store = open_storage(f"sqlite:///{folder}/scitune-{n}-{with_sampler}.db")
    study = store.create_study("bench", {"name": "bench"}, {})
    space, sampler = _space(), _quasi_random()
    fixed = {"lr": 0.01, "wd": 1e-4, "dropout": 0.1}
    state: dict[str, Any] = {}
    start = time.perf_counter()
    for i in range(n):
        if with_sampler and sampler is not None:
            suggestion = sampler.suggest(space, [], 1, state=state)
            params, state = suggestion.configs[0], suggestion.state
        else:
            params, state = fixed, {"position": i + 1}
        store.add_trials(
            study.id, [NewTrial(params, seed=i)], sampler_state=state, expected_version=i
        )  # this loop is the only writer: trial i finds the state at version i
        trial = store.claim_trial(study.id, worker="bench", trial_dir="trials/{number}")
        assert trial is not None
        store.finish_trial(trial.id, TrialState.COMPLETE, value=float(i), value_step=i)
    elapsed = time.perf_counter() - start
    assert len(store.get_trials(study.id, states=[TrialState.COMPLETE])) == n
    store.close()
    return elapsed


def optuna_bookkeeping(
    folder: Path, n: int, *, wal: bool, budget_s: float | None = None
) -> tuple[float, int]:
    """Seconds and trials done for ask -> 3 x suggest_float -> tell (stops past ``budget_s``)."""
    study = _optuna_study(folder / f"optuna-{n}-{wal}.db", wal=wal, sampler=_optuna_qmc())
    start = time.perf_counter()
    done = 0
    for i in range(n):
        trial = study.ask()
        trial.suggest_float("lr", 1e-4, 0.3, log=True)
        trial.suggest_float("wd", 1e-6, 1e-2, log=True)
        trial.suggest_float("dropout", 0.0, 0.5)
        study.tell(trial, float(i))
        done += 1
        if budget_s is not None and time.perf_counter() - start > budget_s:
            break
    return time.perf_counter() - start, done


# -- b) ingestion -------------------------------------------------------------------------------
def scitune_ingest(folder: Path, trials: int, metrics: int, steps: int) -> float:
    """Points per second through add_measurements, one committed batch per trial."""
    store = open_storage(f"sqlite:///{folder}/ingest.db")
    study = store.create_study("bench", {}, {})
    new = [NewTrial({"lr": 0.01}, seed=i) for i in range(trials)]
    store.add_trials(study.id, new, sampler_state={}, expected_version=0)
    ids = []
    while (trial := store.claim_trial(study.id, worker="bench", trial_dir="d")) is not None:
        ids.append(trial.id)
    rng = np.random.default_rng(0)
    step_axis = np.arange(1, steps + 1, dtype=np.int64) * 10
    batches = [
        {f"metric_{m}": (step_axis, rng.random(steps)) for m in range(metrics)} for _ in range(8)
    ]
    start = time.perf_counter()
    for k, trial_id in enumerate(ids):
        store.add_measurements(trial_id, batches[k % 8], ingested_bytes=(k + 1) * 40_000)
    elapsed = time.perf_counter() - start
    store.close()
    return trials * metrics * steps / elapsed


def optuna_ingest(folder: Path, trials: int, steps: int, *, wal: bool) -> float:
    """Points per second through trial.report(value, step), one point per call."""
    study = _optuna_study(folder / f"optuna-ingest-{wal}.db", wal=wal)
    handles = [study.ask() for _ in range(trials)]
    values = np.random.default_rng(0).random(steps)
    start = time.perf_counter()
    for trial in handles:
        for step in range(steps):
            trial.report(float(values[step]), step)
    return trials * steps / (time.perf_counter() - start)


# -- c) read-back -------------------------------------------------------------------------------
def scitune_read(folder: Path, trials: int, points: int, repeats: int) -> float:
    """Median seconds of get_curves on a freshly opened store (the open itself not timed)."""
    url = f"sqlite:///{folder}/read.db"
    store = open_storage(url)
    study = store.create_study("bench", {}, {})
    new = [NewTrial({"lr": 0.01}, seed=i) for i in range(trials)]
    store.add_trials(study.id, new, sampler_state={}, expected_version=0)
    rng = np.random.default_rng(0)
    while (trial := store.claim_trial(study.id, worker="bench", trial_dir="d")) is not None:
        half = points // 2  # two batches, so reading merges nothing only after finish compacts
        steps = np.arange(points, dtype=np.int64)
        values = rng.random(points)
        store.add_measurements(trial.id, {"dev_error": (steps[:half], values[:half])})
        store.add_measurements(trial.id, {"dev_error": (steps[half:], values[half:])})
        store.finish_trial(trial.id, TrialState.COMPLETE, value=float(values.min()))
    store.close()

    seconds = []
    for _ in range(repeats):
        fresh = open_storage(url)
        start = time.perf_counter()
        curves = fresh.get_curves(study.id)
        seconds.append(time.perf_counter() - start)
        assert len(curves) == trials and len(next(iter(curves.values()))["dev_error"]) == points
        fresh.close()
    return statistics.median(seconds)


def optuna_read(folder: Path, trials: int, points: int, repeats: int) -> float:
    """Median seconds of study.get_trials() with intermediate values on a freshly loaded study."""
    optuna = _optuna()
    path = folder / "optuna-read.db"
    study = _optuna_study(path)
    distribution = optuna.distributions.FloatDistribution(1e-4, 0.3, log=True)
    rng = np.random.default_rng(0)
    frozen = [
        optuna.trial.create_trial(
            params={"lr": 0.01},
            distributions={"lr": distribution},
            value=0.5,
            intermediate_values={s: float(v) for s, v in enumerate(rng.random(points))},
        )
        for _ in range(trials)
    ]
    study.add_trials(frozen)
    seconds = []
    for _ in range(repeats):
        loaded = optuna.load_study(study_name="bench", storage=_optuna_storage(path, wal=False))
        start = time.perf_counter()
        curves = {t.number: t.intermediate_values for t in loaded.get_trials(deepcopy=False)}
        seconds.append(time.perf_counter() - start)
        assert len(curves) == trials and len(curves[0]) == points
    return statistics.median(seconds)


# -- the report ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    args = parser.parse_args(argv)
    quick = args.quick
    sizes = [300] if quick else [1_000, 10_000]
    optuna_n = 100 if quick else 1_000
    ingest = (100, 4, 250) if quick else (1_000, 4, 250)
    optuna_ingest_shape = (2, 250) if quick else (5, 1_000)
    read_trials, read_points = 1_000, 100
    optuna_read_trials = 200 if quick else 1_000

    import optuna

    console.print(
        f"[bold]scitune store vs Optuna {optuna.__version__}[/] - Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}{' (--quick)' if quick else ''}"
    )
    if _quasi_random() is None:
        console.print("[yellow]scitune.samplers.QuasiRandomSampler not found: sampler rows skipped")
    rows: list[Row] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="scitune-bench-") as tmp:
        folder = Path(tmp)

        # a) bookkeeping
        console.print("a) bookkeeping ...")
        opt_s, opt_n = optuna_bookkeeping(folder, optuna_n, wal=False)
        opt_ms = _ms(opt_s, opt_n)
        opt_wal_s, opt_wal_n = optuna_bookkeeping(folder, optuna_n, wal=True)
        opt_wal_ms = _ms(opt_wal_s, opt_wal_n)
        store_ms: dict[int, float] = {}
        for n in sizes:
            store_ms[n] = _ms(scitune_bookkeeping(folder, n, with_sampler=False), n)
            sampled_ms = _ms(scitune_bookkeeping(folder, n, with_sampler=True), n)
            peer_ms, peer_n = opt_ms, opt_n
            if n > optuna_n:
                if opt_ms * n / 1e3 * 1.5 < OPTUNA_BUDGET_S:
                    s, done = optuna_bookkeeping(folder, n, wal=False, budget_s=OPTUNA_BUDGET_S)
                    peer_ms, peer_n = _ms(s, done), done
                else:
                    notes.append(
                        f"Optuna at {n:,} trials would take about "
                        f"{opt_ms * n / 1e3 / 60:.0f} min (> {OPTUNA_BUDGET_S / 60:.0f} min): "
                        f"the Optuna figure in that row was measured at {opt_n:,} trials."
                    )
            peer = f"{_fmt_ms(peer_ms)} (at {peer_n:,})"
            rows.append(
                Row(
                    f"bookkeeping, store only, {n:,} trials (ms/trial)",
                    _fmt_ms(store_ms[n]),
                    peer,
                    f"{peer_ms / store_ms[n]:,.0f}x",
                    f"<= {TARGET_BOOKKEEPING_MS} ms",
                    _ok(store_ms[n] <= TARGET_BOOKKEEPING_MS),
                )
            )
            if _quasi_random() is not None:
                rows.append(
                    Row(
                        f"  + QuasiRandomSampler.suggest, {n:,} trials",
                        _fmt_ms(sampled_ms),
                        peer,
                        f"{peer_ms / sampled_ms:,.0f}x",
                    )
                )
        rows.append(
            Row(
                f"  Optuna with WAL + synchronous=NORMAL, {opt_wal_n:,} trials",
                _fmt_ms(store_ms[sizes[0]]),
                _fmt_ms(opt_wal_ms),
                f"{opt_wal_ms / store_ms[sizes[0]]:,.0f}x",
            )
        )

        # b) ingestion
        console.print("b) ingestion ...")
        trials, metrics, steps = ingest
        pps = scitune_ingest(folder, trials, metrics, steps)
        o_trials, o_steps = optuna_ingest_shape
        opt_pps = optuna_ingest(folder, o_trials, o_steps, wal=False)
        opt_wal_pps = optuna_ingest(folder, o_trials, o_steps, wal=True)
        shape = f"{trials:,} trials x {metrics} metrics x {steps} steps"
        rows.append(
            Row(
                f"ingestion, {shape}",
                _fmt_pps(pps),
                f"{_fmt_pps(opt_pps)} ({o_trials * o_steps:,} reports)",
                f"{pps / opt_pps:,.0f}x",
                f">= {TARGET_INGEST_PPS / 1e6:.0f} M pts/s",
                _ok(pps >= TARGET_INGEST_PPS),
            )
        )
        rows.append(
            Row(
                "  Optuna, WAL + synchronous=NORMAL",
                _fmt_pps(pps),
                _fmt_pps(opt_wal_pps),
                f"{pps / opt_wal_pps:,.0f}x",
            )
        )

        # c) read-back
        console.print("c) read-back ...")
        read_s = scitune_read(folder, read_trials, read_points, repeats=5)
        opt_read_s = optuna_read(folder, optuna_read_trials, read_points, repeats=3)
        opt_scaled = opt_read_s * read_trials / optuna_read_trials
        opt_label = f"{opt_scaled:.3f} s"
        if optuna_read_trials != read_trials:
            opt_label += f" (x{read_trials // optuna_read_trials} of {optuna_read_trials:,})"
        rows.append(
            Row(
                f"read-back, {read_trials:,} trials x {read_points} points (s)",
                f"{read_s:.4f} s",
                opt_label,
                f"{opt_scaled / read_s:,.0f}x",
                f"<= {TARGET_READ_S} s",
                _ok(read_s <= TARGET_READ_S),
            )
        )

    table = Table(title="trial store: scitune vs Optuna (ratio: how many times faster scitune is)")
    for column in ("measurement", "scitune", "Optuna", "ratio", "target", "met"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    for row in rows:
        table.add_row(row.what, row.scitune, row.optuna, row.ratio, row.target, row.met)
    console.print(table)
    for note in [
        *notes,
        "Optuna's default SQLite: rollback journal, synchronous=FULL (an fsync per commit). "
        "scitune: WAL, synchronous=NORMAL (survives a process crash, not a power cut).",
    ]:
        console.print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
