"""``scitune delete STUDY``: remove a study, its trials, curves and files (asks first)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from scitune.cli._common import JSON_HELP, console, handle_errors, print_json, storage_default
from scitune.errors import ScituneError
from scitune.study import Study


@handle_errors
def delete(
    study: Annotated[str, typer.Argument(help="Study file (study.toml) or study name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (for scripts).")] = False,
    storage: Annotated[
        str | None,
        typer.Option("--storage", help="Storage URL (default: $SCITUNE_STORAGE, else local)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Delete a study: its trials, their attempts, curves, checkpoints and folders.

    A study that a decision (adopt or reject) refers to is refused: the baseline's lineage is
    never rewritten.
    """
    st = Study.load(study, storage_url=storage or storage_default())
    trials = st.trials()
    if not yes:
        if as_json:
            raise ScituneError(
                f"deleting study {st.name!r} needs --yes with --json (nothing was deleted)."
            )
        typer.confirm(
            f"Delete study {st.name!r} from {st.storage.url}: {len(trials)} trial(s), their "
            f"curves and the folder {st.artifacts_dir()}?",
            abort=True,
        )
    removed = st.delete()
    if as_json:
        print_json(
            {
                "deleted": st.name,
                "trials": len(trials),
                "folders_removed": [str(p) for p in removed],
            }
        )
        return
    console.print(
        f"Deleted study {escape(st.name)}: {len(trials)} trial(s) and {len(removed)} folder(s).",
        highlight=False,
    )
