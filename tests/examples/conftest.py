"""Shared set-up for the example workloads' tests: importable examples, an isolated data cache."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# `examples` lives at the repository root, next to `src/`; plain `pytest` does not put the root
# on sys.path (`python -m pytest` does).
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

try:  # the examples need the torch extra: pip install -e ".[torch]"
    import mnist1d  # noqa: F401
    import torch  # noqa: F401
except ImportError:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One fresh MNIST-1D cache for the session (generated once, ~2 s), never ~/.cache.

    Trials run on one thread, as under the runner: tiny models gain nothing from more, and on a
    busy machine competing threads make them several times slower.
    """
    import torch
    from examples.mnist1d import data

    path = tmp_path_factory.mktemp("mnist1d-data")
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(data.DATA_DIR_ENV, str(path))
        mp.setenv("OMP_NUM_THREADS", "1")  # read by train.main
        data._arrays.cache_clear()
        yield path
    data._arrays.cache_clear()
    torch.set_num_threads(threads)
