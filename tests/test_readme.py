"""The README's examples are the real files: what a user copies works."""

from __future__ import annotations

import re
from pathlib import Path

from scitune.spec import load_spec

REPO = Path(__file__).parent.parent
README = (REPO / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_readme_shell_trial_is_the_tested_example() -> None:
    (block,) = _blocks("sh")
    assert block == (REPO / "examples/shell/train.sh").read_text()
    assert len(block.strip().splitlines()) <= 10


def test_readme_study_file_parses(tmp_path: Path) -> None:
    (block,) = _blocks("toml")
    path = tmp_path / "study.toml"
    path.write_text(block)
    spec = load_spec(path)
    assert spec.name == "cnn-dropout"
    assert "beta1[optimizer=adam]" in spec.nuisance_space().keys


def test_readme_names_the_two_setup_commands() -> None:
    assert "\n    make demo\n" in README and "\n    make test\n" in README
    ci = (REPO / ".ci/run").read_text()
    assert "make test" in ci


def test_the_campaign_the_readme_reports_is_a_valid_script() -> None:
    import subprocess

    campaign = REPO / "examples/mnist1d/campaign"
    assert "examples/mnist1d/campaign/run.sh" in README
    subprocess.run(["sh", "-n", str(campaign / "run.sh")], check=True)
    spec = load_spec(campaign / "explore.toml")
    assert spec.scientific_space().names == ("channels",)
    # Every scitune subcommand the script calls exists.
    from typer.main import get_command

    from scitune.cli import app

    known = set(get_command(app).commands)  # type: ignore[attr-defined]
    used = set(re.findall(r"\$SCITUNE (\w+)", (campaign / "run.sh").read_text()))
    assert used and used <= known, used - known
