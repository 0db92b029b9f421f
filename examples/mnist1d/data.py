"""MNIST-1D, generated locally with the paper's default arguments and cached as an .npz.

The data set is never downloaded: ``mnist1d.data.make_dataset`` builds it (about 2 s) from the
paper's arguments (5,000 examples of length 40, seed 42, 80/20 train/test). The arrays are cached
under ``$SCITUNE_DATA_DIR`` (default ``~/.cache/scitune/mnist1d/``), written atomically so that
trials started in parallel on an empty cache cannot corrupt it.

scitune tunes on a dev split carved from train: 3,600 train / 400 dev, the same for every trial
and every machine (a fixed permutation seed). The 1,000 test examples are returned only by
:func:`load_test`, which the training entrypoint never calls.

Example:
    >>> train, dev = load_train_dev()  # doctest: +SKIP
    >>> train.x.shape, dev.x.shape
    (torch.Size([3600, 40]), torch.Size([400, 40]))
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "DATA_DIR_ENV",
    "DEV_SIZE",
    "SPLIT_SEED",
    "Split",
    "cache_dir",
    "cache_path",
    "dataset_args",
    "load_test",
    "load_train_dev",
]

DATA_DIR_ENV = "SCITUNE_DATA_DIR"
DEFAULT_CACHE_DIR = Path("~/.cache/scitune/mnist1d")
DEV_SIZE = 400
SPLIT_SEED = 0  # fixed for ever: changing it changes every study's dev set


@dataclass(frozen=True)
class Split:
    """Inputs ``x`` (float32, ``[n, 40]``) and integer labels ``y`` (int64, ``[n]``)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


def dataset_args() -> dict[str, Any]:
    """The paper's data-set arguments (``mnist1d.data.get_dataset_args``), without the URL."""
    from mnist1d.data import get_dataset_args

    args = dict(get_dataset_args(as_dict=True))
    args.pop("url", None)  # the download location; generation never uses it
    return args


def cache_dir() -> Path:
    """Where the generated arrays live: ``$SCITUNE_DATA_DIR`` or ``~/.cache/scitune/mnist1d``."""
    configured = os.environ.get(DATA_DIR_ENV)
    return Path(configured).expanduser() if configured else DEFAULT_CACHE_DIR.expanduser()


def cache_path() -> Path:
    """The cache file; its name carries a hash of the generation arguments."""
    digest = hashlib.sha256(json.dumps(dataset_args(), sort_keys=True).encode()).hexdigest()
    return cache_dir() / f"mnist1d-{digest[:12]}.npz"


def load_train_dev() -> tuple[Split, Split]:
    """The 3,600-example train split and the 400-example dev split, as torch tensors."""
    arrays = _arrays()
    x, y = arrays["x"], arrays["y"]
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    train_ix, dev_ix = order[:-DEV_SIZE], order[-DEV_SIZE:]
    return _split(x[train_ix], y[train_ix]), _split(x[dev_ix], y[dev_ix])


def load_test() -> Split:
    """The 1,000 test examples. Only the final evaluation may call this, never a trial."""
    arrays = _arrays()
    return _split(arrays["x_test"], arrays["y_test"])


def _split(x: np.ndarray, y: np.ndarray) -> Split:
    return Split(x=torch.tensor(x, dtype=torch.float32), y=torch.tensor(y, dtype=torch.int64))


@functools.cache
def _arrays() -> dict[str, np.ndarray]:
    path = cache_path()
    try:
        with np.load(path) as stored:
            return {name: stored[name] for name in ("x", "y", "x_test", "y_test")}
    except (OSError, KeyError, ValueError):
        pass  # missing or unreadable (e.g. an older format): generate and replace it
    arrays = _generate()
    _write_atomically(path, arrays)
    return arrays


def _generate() -> dict[str, np.ndarray]:
    from mnist1d.data import make_dataset
    from mnist1d.utils import ObjectView

    # make_dataset reseeds the global `random` and NumPy generators; put them back afterwards
    # so that loading data never changes the caller's random streams.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(ObjectView(dataset_args()))
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {
        "x": np.asarray(data["x"], dtype=np.float32),
        "y": np.asarray(data["y"], dtype=np.int64),
        "x_test": np.asarray(data["x_test"], dtype=np.float32),
        "y_test": np.asarray(data["y_test"], dtype=np.int64),
    }


def _write_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary file in the same directory, then rename over ``path``.

    Two trials generating at once each write their own temporary file; ``os.replace`` is atomic,
    so readers see either no file or a complete one (both writers produce identical bytes).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a shared cache should be readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
