"""The batch-size probe for real: the paper's CNN on MNIST-1D, on CPU, under a host memory limit.

The probe runs ``examples/mnist1d/study.toml``'s configuration (its best trial's learning rate)
at doubling batch sizes, one trial process at a time, with each trial's address space capped
(RLIMIT_AS) so that the largest batch runs out of memory, as a too-large batch does on a GPU.

RLIMIT_AS counts virtual memory, ~930 MiB of which is torch and the data before the first step,
while this tiny CNN needs only ~10 MiB more at batch 3584 than at 28; so the limit is measured,
not guessed: a first one-size probe (under a limit far too large to matter) records a small
batch's peak address space, and the probe proper runs 5 MiB above it. glibc's dynamic mmap
threshold would make that peak wander by several MiB from run to run; a fixed threshold
(``MALLOC_MMAP_THRESHOLD_``) makes it reproducible to within ~1 MiB here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from scitune.cli import app
from scitune.spec import load_spec
from scitune.storage import NewTrial, TrialState, open_storage
from scitune.study import Study

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytest.importorskip("torch")
pytest.importorskip("mnist1d")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux's"),
]

STUDY = ROOT / "examples" / "mnist1d" / "study.toml"
runner = CliRunner()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory where `examples` imports (a link to the repository's), with its own data."""
    from examples.mnist1d import data

    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "mnist1d-data"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny model: one thread per trial
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")  # a reproducible address space
    monkeypatch.delenv("SCITUNE_STORAGE", raising=False)
    monkeypatch.chdir(tmp_path)
    data._arrays.cache_clear()
    data.load_train_dev()  # generate once here, not in the first trial
    return tmp_path


def seed_best_trial(url: str, learning_rate: float) -> None:
    """Record the study as run, its best trial at ``learning_rate`` (without training it)."""
    spec = load_spec(STUDY)
    study = Study.open(spec, open_storage(url))
    store, record = study.storage, study.record
    store.add_trials(
        record.id,
        [NewTrial(params={"learning_rate": learning_rate, **spec.fixed}, seed=1)],
        sampler_state=record.sampler_state,
        expected_version=record.state_version,
    )
    trial = store.claim_trial(record.id, worker="test:0", trial_dir=str(Path.cwd() / "t0"))
    assert trial is not None
    store.add_measurements(
        trial.id,
        {
            "params_millions": (np.array([0]), np.array([0.00521])),
            "dev_error": (np.array([7500]), np.array([0.07])),
        },
    )
    store.finish_trial(trial.id, TrialState.COMPLETE, value=0.07, value_step=7500)


def probe(url: str, *args: str) -> dict[str, Any]:
    result = runner.invoke(
        app, ["probe", "batch-size", str(STUDY), "--storage", url, *args, "--json"]
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_batch_size_probe_on_mnist1d_stops_at_out_of_memory(workdir: Path) -> None:
    url = f"sqlite:///{workdir / 'scitune.db'}"
    # As if the learning-rate study had run: its best trial at 3e-2 (study.toml's optimum is
    # 1e-2 to 3e-2). At the middle of its range, 3e-3, ten steps leave the loss at chance.
    seed_best_trial(url, 0.03)

    calibration = probe(
        url, "--start", "28", "--max", "28", "--memory-limit", "64G",
        "--name", "calibration", "--study-file", str(workdir / "calibration.toml"),
    )  # fmt: skip
    [small] = calibration["table"]
    assert small["peak_memory_bytes"] > 500 * 2**20  # torch and the data: hundreds of MiB
    limit = small["peak_memory_bytes"] // 2**20 + 5

    data = probe(
        url, "--start", "28", "--max", "3600", "--memory-limit", f"{limit}M",
        "--study-file", str(workdir / "probe.toml"), "-o", str(workdir / "probe.html"),
    )  # fmt: skip
    assert data["base"] == "the best trial (#0)"
    rows = {r["batch_size"]: r for r in data["table"]}
    assert list(rows) == [28, 56, 112, 224, 448, 896, 1792, 3584]

    # Several sizes measured, and throughput rises at first: per-step overhead dominates small
    # batches on a CPU.
    speeds = {b: r["examples_per_second"] for b, r in rows.items() if r["examples_per_second"]}
    assert len(speeds) >= 5
    first, *later = sorted(speeds)
    assert max(speeds[b] for b in later) > 1.5 * speeds[first]

    # It stopped at out of memory, with the reason recorded in the store.
    assert data["stop"] == "oom"
    assert data["stopped_at"] >= 896
    assert data["stop_reason"].startswith(f"out of memory (address space limit {limit} MiB")
    assert "can't allocate memory" in data["stop_reason"]
    after = [b for b in rows if b > data["stopped_at"]]
    assert all(rows[b]["status"] == "not run" for b in after)
    trials = json.loads(
        runner.invoke(app, ["trials", data["study"], "--storage", url, "--json"]).stdout
    )
    [failed] = [t for t in trials if t["state"] == "FAILED"]
    assert "out of memory" in failed["reason"] and "alloc_cpu" in (failed["stderr_tail"] or "")

    # The largest size that still scales is reported, among those measured below the OOM.
    largest = data["largest_scaling_batch_size"]
    assert largest in speeds and largest < data["stopped_at"]
    assert data["settings"]["memory_limit_bytes"] == limit * 2**20
    from plotly.offline import get_plotlyjs

    page = Path(data["figure"]).read_text()
    assert page.count(get_plotlyjs()) == 1 and page.count("Plotly.newPlot") == 2
    assert "<script src" not in page.replace(get_plotlyjs(), "").lower()
