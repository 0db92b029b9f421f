"""Regenerate the validation corpus: run every study for real, export its curves, score the checks.

Not run by the test suite (about 10 minutes of CPU). From the repository root, with the torch
extra installed::

    python -m tests.analysis.corpus.generate                      # every study in studies/
    python -m tests.analysis.corpus.generate mnist1d-spiky        # only these (file stems)
    python -m tests.analysis.corpus.generate --plot /tmp/corpus   # also draw every trial
    python -m tests.analysis.corpus.generate --plot-only --plot /tmp/corpus  # draw, run nothing

Each study in ``studies/`` runs in a fresh SQLite store in a temporary directory (two trials at
a time, one thread each, as ``scitune run --workers 2`` would), then ``data/<stem>.json.gz`` is
rewritten with the spec as stored, every trial and every curve (see
:mod:`tests.analysis.corpus`). Training is deterministic on one CPU thread, so a rerun on the
same torch version gives the same curves; another version may move them, and then the labels
in ``labels.toml`` must be looked at again (``--plot`` draws what to look at).

Finally ``SCORES.md`` is rewritten from the whole corpus (:mod:`tests.analysis.corpus.score`).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from tests.analysis.corpus import DATA, STUDIES, dump_study, load_snapshot, read_study

ROOT = Path(__file__).resolve().parents[3]
WORKERS = 2


def run_study(path: Path, *, workers: int = WORKERS) -> Path:
    """Run the study file ``path`` in a temporary store and export it; returns the data file."""
    from scitune.execution import Runner
    from scitune.spec import load_spec
    from scitune.storage import open_storage
    from scitune.study import SOURCE_KEY, Study

    spec = load_spec(path)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="scitune-corpus-") as tmp:
        storage = open_storage(f"sqlite:///{tmp}/corpus.db")
        study = Study.open(spec, storage)
        summary = Runner(study, workers=workers, cwd=ROOT).run()
        if summary.interrupted:
            raise KeyboardInterrupt
        wall = time.perf_counter() - started
        trials = study.trials()
        curves = storage.get_curves(study.record.id)
        stored = {k: v for k, v in study.record.spec.items() if k != SOURCE_KEY}
        out = DATA / f"{path.stem}.json.gz"
        dump_study(
            out,
            spec=stored,
            trials=trials,
            curves=curves,
            generated={
                "study_file": str(path.relative_to(ROOT)),
                "wall_s": round(wall, 1),
                "cpu_s": round(sum(t.duration_s or 0.0 for t in trials), 1),
                "workers": workers,
                "date": time.strftime("%Y-%m-%d"),
                "torch": _version("torch"),
                "python": platform.python_version(),
                "machine": platform.machine(),
            },
        )
    states = {s: sum(t.state.value == s for t in trials) for s in ("COMPLETE", "INFEASIBLE")}
    print(
        f"{path.stem}: {len(trials)} trials ({states['COMPLETE']} complete, "
        f"{states['INFEASIBLE']} infeasible) in {wall:.0f}s wall -> {out.name} "
        f"({out.stat().st_size / 1024:.1f} KiB)",
        flush=True,
    )
    return out


def plot_study(data_file: Path, folder: Path) -> Path:
    """One PNG per study: every trial's objective (blue) and training loss (red), whole (left)
    and zoomed on the second half of training (right), titled with its number, state, learning
    rate and score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    data = read_study(data_file)
    snapshot = load_snapshot(data_file)
    metric = snapshot.spec.objective.metric
    train = snapshot.train_metric()
    horizon = snapshot.spec.budget.max_train_steps
    trials = sorted(snapshot.trials, key=lambda t: t.number)
    pairs = 2
    rows = -(-len(trials) // pairs)
    fig, axes = plt.subplots(rows, 2 * pairs, figsize=(20, 3.0 * rows), squeeze=False)
    for ax in axes.flat[2 * len(trials) :]:
        ax.axis("off")
    for i, t in enumerate(trials):
        whole, zoom = axes.flat[2 * i], axes.flat[2 * i + 1]
        lr = t.params.get("learning_rate")
        title = f"#{t.number} {t.state.value}"
        if isinstance(lr, int | float):
            title += f" lr={lr:.3g}"
        if t.value is not None:
            title += f" score={t.value:.4g}@{t.value_step}"
        whole.set_title(title, fontsize=9)
        zoom.set_title(f"#{t.number}: from {horizon // 2} (half of training) on", fontsize=9)
        for ax, start in ((whole, 0), (zoom, horizon // 2)):
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            ax.set_xlim(start, horizon * 1.01)
            dev = snapshot.curve(t, metric)
            if dev is not None:
                keep = np.isfinite(dev.values) & (dev.steps >= start)
                ax.plot(dev.steps[keep], dev.values[keep], ".-", color="C0", ms=3, lw=1)
                if t.value_step is not None:
                    ax.axvline(t.value_step, color="C0", ls=":", lw=0.8)
            tc = snapshot.curve(t, train) if train else None
            if tc is not None:
                keep = np.isfinite(tc.values) & (tc.steps >= start)
                if keep.any():
                    ax2 = ax.twinx()
                    ax2.plot(tc.steps[keep], tc.values[keep], "-", color="C3", lw=1)
                    ax2.tick_params(labelsize=7, colors="C3")
                    v = tc.values[keep]
                    if v.min() > 0 and v.max() / v.min() > 50:
                        ax2.set_yscale("log")
        if t.reason:
            whole.text(
                0.02, 0.02, t.reason[:70], transform=whole.transAxes, fontsize=6, color="red"
            )
    fig.suptitle(
        f"{data['study']}: {metric} (blue; dotted: the score's step), {train} (red, right "
        f"axis), max_train_steps {horizon}",
        fontsize=10,
    )
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{data_file.name.removesuffix('.json.gz')}.png"
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def _version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.analysis.corpus.generate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("studies", nargs="*", help="study file stems (default: all)")
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--plot", type=Path, help="also draw every study's trials here")
    parser.add_argument(
        "--plot-only", action="store_true", help="draw the exported corpus, run nothing"
    )
    args = parser.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"  # read by the MNIST-1D trainer: one thread per trial
    files = sorted(STUDIES.glob("*.toml"))
    if args.studies:
        known = {f.stem: f for f in files}
        missing = [s for s in args.studies if s not in known]
        if missing:
            parser.error(f"no study {missing} in {STUDIES}; known: {sorted(known)}")
        files = [known[s] for s in args.studies]
    started = time.perf_counter()
    exported = [DATA / f"{f.stem}.json.gz" for f in files]
    if not args.plot_only:
        DATA.mkdir(exist_ok=True)
        exported = [run_study(f, workers=args.workers) for f in files]
        print(f"generated {len(exported)} studies in {time.perf_counter() - started:.0f}s wall")
    if args.plot or args.plot_only:
        folder = args.plot or Path(tempfile.gettempdir()) / "scitune-corpus-plots"
        for data_file in exported:
            print(plot_study(data_file, folder))
    if not args.plot_only:
        from tests.analysis.corpus.score import write_scores

        print(write_scores())
    return 0


if __name__ == "__main__":
    sys.exit(main())
