"""``scitune refine STUDY -o refined.toml``: the exploitation study after exploration (§7)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from scitune._toml_out import render_study
from scitune.analysis import StudySnapshot, analyze
from scitune.cli._common import (
    JSON_HELP,
    STORAGE_HELP,
    console,
    handle_errors,
    print_json,
    storage_default,
)
from scitune.errors import ScituneError
from scitune.refine import refine_spec
from scitune.spec import StudySpec
from scitune.study import Study


def _inline(entry: object) -> str:
    if isinstance(entry, dict):
        return f"[{entry.get('low')}, {entry.get('high')}] {entry.get('scale', 'linear')}"
    return str(entry)


@handle_errors
def refine(
    study: Annotated[str, typer.Argument(help="The explored study (file or name).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write the new study file.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="The new study's name.")] = None,
    trials: Annotated[
        int | None,
        typer.Option(
            min=1, help="Trials per design cell in the new study (default: the explored one's)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
    storage: Annotated[str | None, typer.Option("--storage", help=STORAGE_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Write a Bayesian study whose ranges comfortably contain the best trials.

    Each nuisance range becomes the span of the best trials, padded (and widened past an edge
    where the boundary check fired); the explored study's trials stay available to the new one
    (search.history), so the Bayesian sampler starts from everything already learned.
    """
    st = Study.load(study, storage_url=storage or storage_default())
    snapshot = StudySnapshot.from_study(st)
    cells = {t.number: t.slot for t in snapshot.trials}
    data, changes = refine_spec(
        st.spec, analyze(snapshot), name=name, trials=trials, cells=cells
    )
    StudySpec.from_dict(data)  # the written file must be a valid study
    path = output or Path(f"{data['name']}.toml")
    if path.exists() and not force:
        raise ScituneError(f"{path} already exists; pass --force to overwrite it.")
    header = (
        f"Refined from study {st.name!r} by `scitune refine` (§7: exploit the explored space).\n"
        "Each nuisance range is the span of the best trials, padded; the explored trials stay\n"
        "available to the Bayesian sampler through search.history."
    )
    notes = {c.path: f"was {_inline(c.old)}: {c.why}" if c.changed else c.why for c in changes}
    path.write_text(render_study(data, header=header, notes=notes))
    if as_json:
        print_json(
            {
                "written": str(path),
                "study": data["name"],
                "changes": [
                    {
                        "axis": c.key,
                        "old": dict(c.old),
                        "new": dict(c.new),
                        "changed": c.changed,
                        "why": c.why,
                    }
                    for c in changes
                ],
            }
        )
        return
    table = Table(header_style="bold", title=f"{data['name']}: nuisance ranges")
    for col in ("axis", "old", "new", "why"):
        table.add_column(col, overflow="fold")
    for c in changes:
        new = _inline(c.new) if c.changed else "(kept)"
        table.add_row(escape(c.key), _inline(c.old), new, escape(c.why))
    console.print(table)
    console.print(f"Wrote {escape(str(path))}. Run it: scitune run {escape(str(path))}")
