"""Study files written by scitune read back as the same study."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from scitune._toml_out import render_study
from scitune.spec import StudySpec, load_spec

REPO = Path(__file__).parent.parent


def test_round_trip_of_the_readme_study(tmp_path: Path) -> None:
    (block,) = re.findall(r"```toml\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    original = tmp_path / "a.toml"
    original.write_text(block)
    spec = load_spec(original)
    text = render_study(
        spec.to_dict(), header="written\nby scitune", notes={"nuisance.learning_rate": "why"}
    )
    assert text.startswith("# written\n# by scitune\n")
    assert "# why\nlearning_rate = { low = 0.0001" in text
    written = tmp_path / "b.toml"
    written.write_text(text)
    assert load_spec(written) == spec


def test_every_example_round_trips(tmp_path: Path) -> None:
    for path in sorted((REPO / "examples").rglob("*.toml")):
        spec = load_spec(path)
        text = render_study(spec.to_dict())
        assert StudySpec.from_dict(tomllib.loads(text)) == spec, path
