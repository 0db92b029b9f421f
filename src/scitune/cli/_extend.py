"""``scitune extend STUDY --steps N``: round 2 of a compute-bound search (§8, item 29)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from scitune._toml_out import render_study
from scitune.cli._common import (
    JSON_HELP,
    STORAGE_HELP,
    console,
    err_console,
    fmt_value,
    handle_errors,
    print_json,
    storage_default,
)
from scitune.errors import ScituneError
from scitune.extend import LABEL, extend_spec
from scitune.project import resolve_ref
from scitune.spec import StudySpec
from scitune.study import Study


@handle_errors
def extend(
    study: Annotated[str, typer.Argument(help="Round 1: the study tuned on short runs.")],
    steps: Annotated[int, typer.Option(min=1, help="Round 2's max_train_steps.")],
    top: Annotated[int, typer.Option(min=1, help="How many of round 1's best to extend.")] = 3,
    runs: Annotated[int, typer.Option(min=1, help="Runs (seeds) per configuration.")] = 1,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write the round-2 study.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
    storage: Annotated[str | None, typer.Option("--storage", help=STORAGE_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Write round 2: round 1's best configurations, longer, with their schedules extended.

    Linear decay keeps its decay length and extends the constant phase; cosine keeps the base
    learning rate and stretches; the extended schedules are checked for steps wasted at a too
    small learning rate; what is unlikely to transfer from short runs is named.
    """
    url = storage or storage_default()
    st = Study.load(study, storage_url=url)
    ranked = sorted((r for r in st.ranked() if r.rank is not None), key=lambda r: r.rank or 0)
    originals = [r.trial for r in ranked if r.trial.parent_number is None][:top]
    if not originals:
        raise ScituneError(f"study {st.name!r} has no ranked trial to extend: run it first.")
    configs = [resolve_ref(f"{st.name}#{t.number}", storage_url=url) for t in originals]
    try:
        data, plans, warnings = extend_spec(st.spec, configs, steps=steps, runs=runs)
    except ValueError as e:
        raise ScituneError(str(e)) from e
    StudySpec.from_dict(data)  # the written file must be a valid study
    path = output or Path(f"{data['name']}.toml")
    if path.exists() and not force:
        raise ScituneError(f"{path} already exists; pass --force to overwrite it.")
    header = (
        f"Round 2 of study {st.name!r}, written by `scitune extend` (§8: compute-bound rounds).\n"
        f"Its {len(plans)} best configurations, {steps} steps instead of "
        f"{st.spec.budget.max_train_steps}; {LABEL} names them (trainers ignore `_` names).\n"
        + "\n".join(f"{p.label} = {p.source}: {'; '.join(p.notes)}" for p in plans)
    )
    path.write_text(render_study(data, header=header))
    if as_json:
        print_json(
            {
                "written": str(path),
                "study": data["name"],
                "configs": [
                    {
                        "label": p.label,
                        "from": p.source,
                        "score": p.score,
                        "schedule": p.schedule,
                        "changes": p.changes,
                        "low_lr_share": p.low_lr_share,
                        "notes": list(p.notes),
                    }
                    for p in plans
                ],
                "warnings": warnings,
            }
        )
        return
    table = Table(header_style="bold", title=f"{data['name']}: {steps} steps")
    for col in ("config", "from", "round-1 score", "schedule", "round 2"):
        table.add_column(col, overflow="fold")
    for p in plans:
        table.add_row(
            p.label, escape(p.source), fmt_value(p.score), p.schedule, escape("; ".join(p.notes))
        )
    console.print(table)
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    console.print(f"Wrote {escape(str(path))}. Run it: scitune run {escape(str(path))}")
