"""``scitune round start|add|close|show|list``: incremental tuning, one scoped goal per round."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from scitune.analysis import StudySnapshot, analyze
from scitune.analysis._results import to_jsonable
from scitune.cli._common import (
    JSON_HELP,
    STORAGE_HELP,
    console,
    handle_errors,
    print_json,
    storage_default,
)
from scitune.errors import ScituneError
from scitune.storage import RoundRecord, Storage, open_storage
from scitune.study import DEFAULT_STORAGE, Study

round_app = typer.Typer(
    help="Rounds: one scoped goal each, its studies, findings and decision (§3).",
    no_args_is_help=True,
)
StorageOpt = Annotated[str | None, typer.Option("--storage", help=STORAGE_HELP)]
JsonOpt = Annotated[bool, typer.Option("--json", help=JSON_HELP)]


def _store(storage: str | None, *, create: bool = False) -> Storage:
    """The store; only `round start` creates one (the others need rounds to exist)."""
    return open_storage(storage or storage_default() or DEFAULT_STORAGE, create=create)


def _open_round(store: Storage) -> RoundRecord:
    open_ = [r for r in store.list_rounds() if r.state == "open"]
    if not open_:
        raise ScituneError("no round is open: start one with `scitune round start --goal ...`.")
    return open_[-1]


@round_app.command("start")
@handle_errors
def start(
    goal: Annotated[str, typer.Option(help="This round's one scoped goal.")],
    storage: StorageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open a round. Studies run while it is open are attached to it."""
    record = _store(storage, create=True).create_round(goal)
    if as_json:
        print_json(to_jsonable(record))
        return
    console.print(f"Round {record.number} open: {escape(goal)}")


@round_app.command("add")
@handle_errors
def add(
    study: Annotated[str, typer.Argument(help="Study file or study name.")],
    storage: StorageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Attach a study to the open round (`scitune run` does this by itself)."""
    st = Study.load(study, storage_url=storage or storage_default())
    record = _open_round(st.storage)
    st.storage.attach_study(record.number, st.record.id)
    if as_json:
        print_json({"round": record.number, "study": st.name})
        return
    console.print(f"Study {escape(st.name)} attached to round {record.number}.")


@round_app.command("close")
@handle_errors
def close(
    decision: Annotated[str, typer.Option(help="What was decided (adopt X / keep baseline...).")],
    notes: Annotated[str, typer.Option(help="What was learned, what did not work.")] = "",
    storage: StorageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Close the open round with its decision, notes and a snapshot of its studies' findings."""
    store = _store(storage)
    record = _open_round(store)
    findings: dict[str, Any] = {}
    for name in record.studies:
        st = Study.load(name, storage_url=store.url)
        result = analyze(StudySnapshot.from_study(st))
        findings[name] = {
            "counts": dict(result.counts),
            "findings": [
                {"code": f.code, "severity": f.severity, "message": f.message}
                for f in result.findings
            ],
        }
    closed = store.close_round(record.number, decision=decision, notes=notes, findings=findings)
    if as_json:
        print_json(to_jsonable(closed))
        return
    console.print(
        f"Round {closed.number} closed: {escape(decision)} "
        f"({len(closed.studies)} study(ies), findings kept)."
    )


@round_app.command("show")
@handle_errors
def show(
    number: Annotated[int | None, typer.Argument(help="Round number (default: the last).")] = None,
    storage: StorageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One round: goal, studies, decision, notes and the findings it was closed on."""
    store = _store(storage)
    rounds = store.list_rounds()
    if not rounds:
        raise ScituneError("no round yet: start one with `scitune round start --goal ...`.")
    record = store.get_round(number) if number is not None else rounds[-1]
    if as_json:
        print_json(to_jsonable(record))
        return
    console.print(f"[bold]round {record.number}[/] ({record.state}): {escape(record.goal)}")
    console.print(f"studies: {escape(', '.join(record.studies) or '-')}")
    if record.decision:
        console.print(f"decision: {escape(record.decision)}")
    if record.notes:
        console.print(f"notes: {escape(record.notes)}")
    for study, data in (record.findings or {}).items():
        warnings = [f for f in data.get("findings", []) if f.get("severity") != "info"]
        console.print(f"{escape(study)}: {len(warnings)} warning(s) when closed")
        for f in warnings:
            console.print(f"  [yellow]{escape(f['code'])}[/] {escape(f['message'])}")


@round_app.command("list")
@handle_errors
def list_rounds(storage: StorageOpt = None, as_json: JsonOpt = False) -> None:
    """Every round: the project's timeline."""
    rounds = _store(storage).list_rounds()
    if as_json:
        print_json([to_jsonable(r) for r in rounds])
        return
    if not rounds:
        console.print("No rounds yet. Start one with `scitune round start --goal ...`.")
        return
    table = Table(header_style="bold")
    for col in ("#", "state", "goal", "studies", "decision", "opened", "closed"):
        table.add_column(col)
    for r in rounds:
        table.add_row(
            str(r.number),
            r.state,
            escape(r.goal),
            escape(", ".join(r.studies)),
            escape(r.decision or ""),
            f"{r.created_at:%Y-%m-%d %H:%M}",
            f"{r.closed_at:%Y-%m-%d %H:%M}" if r.closed_at else "",
        )
    console.print(table)
