from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh directory holding the toy entrypoint; the tests run from it."""
    shutil.copy(HERE / "toy.py", tmp_path / "toy.py")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def write_study(workdir: Path) -> Callable[..., Path]:
    def write(
        *,
        name: str = "toy",
        trials: int = 4,
        steps: int = 100,
        modes: tuple[str, ...] = ("ok",),
        timeout: str = "2m",
        extra: str = "",
    ) -> Path:
        mode_values = ", ".join(f'"{m}"' for m in modes)
        text = textwrap.dedent(
            f"""
            name = "{name}"
            goal = "runner test"

            [entrypoint]
            python = "toy:main"
            timeout = "{timeout}"

            [objective]
            metric = "dev_error"
            goal = "minimize"

            [budget]
            trials = {trials}
            max_train_steps = {steps}
            seed = 0

            [scientific]
            mode = {{ values = [{mode_values}] }}

            [nuisance]
            learning_rate = {{ low = 1e-4, high = 1.0, scale = "log" }}
            """
        ) + textwrap.dedent(extra)
        path = workdir / f"{name}.toml"
        path.write_text(text)
        return path

    return write
