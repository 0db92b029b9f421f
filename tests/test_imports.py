"""``import scitune`` stays light: it runs at the start of every trial process."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["plotly", "torch", "optuna", "ray", "fastapi", "sqlalchemy", "alembic", "pydantic",
         "typer", "rich", "scipy", "pandas"]


def test_import_scitune_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, json, scitune; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_lazy_names_resolve() -> None:
    import scitune

    assert scitune.Study.__name__ == "Study"
    assert scitune.load_spec.__name__ == "load_spec"
