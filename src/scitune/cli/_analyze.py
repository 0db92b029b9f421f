"""``scitune analyze STUDY`` and ``scitune report STUDY -o report.html``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from scitune.analysis import Analysis, AnalysisConfig, Finding, StudySnapshot, analyze
from scitune.cli._common import (
    JSON_HELP,
    STORAGE_HELP,
    console,
    handle_errors,
    print_json,
    storage_default,
)
from scitune.errors import ScituneError, SettingsError
from scitune.study import Study

SET_HELP = (
    "Change an analysis threshold, e.g. --set boundary_margin=0.05 (repeatable). "
    "`scitune analyze --settings` lists them with their defaults."
)
STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
ICON = {"critical": "✖", "warning": "▲", "info": "•"}


def _config(items: list[str]) -> AnalysisConfig:
    pairs: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ScituneError(f"--set {item!r}: expected NAME=VALUE, e.g. boundary_margin=0.05.")
        pairs[name.strip()] = value.strip()
    try:
        return AnalysisConfig().with_overrides(pairs)
    except SettingsError as e:
        # One problem per line, one name per problem: each line gets the flag that caused it.
        lines = str(e).splitlines()
        told = [f"--set: {e}"]
        if len(lines) == len(e.names):
            told = [
                f"--set {n}={pairs[n]}: {line}" if n in pairs else f"--set: {line}"
                for n, line in zip(e.names, lines, strict=True)
            ]
        raise SettingsError("\n".join(told), names=e.names) from None


def run_analysis(study: str, storage: str | None, settings: list[str]) -> tuple[
    Study, StudySnapshot, Analysis
]:
    config = _config(settings)  # a bad setting is refused before any work
    st = Study.load(study, storage_url=storage or storage_default())
    snapshot = StudySnapshot.from_study(st)
    return st, snapshot, analyze(snapshot, config)


def render_findings(analysis: Analysis, *, verbose: bool = False) -> None:
    """The findings, worst first: warnings in full (evidence, action, section), info in a line.

    ``verbose`` shows every finding in full.
    """
    c = analysis.counts
    console.print(
        f"[bold]{escape(analysis.study)}[/]  {c['COMPLETE']} complete, {c['INFEASIBLE']} "
        f"infeasible, {c['FAILED']} failed, {c['PENDING'] + c['RUNNING']} not finished"
    )
    if not analysis.findings:
        console.print("No findings.")
        return
    brief = [f for f in analysis.findings if f.severity == "info" and not verbose]
    for f in analysis.findings:
        if f not in brief:
            console.print(_finding_panel(f))
    for f in brief:
        line = Text.assemble((f"{ICON['info']} {f.code}", STYLE["info"]), "  ", f.message)
        console.print(line)
    if brief:
        console.print(
            Text("Info findings in one line each; --verbose shows their evidence.", style="dim")
        )


def _finding_panel(f: Finding) -> Panel:
    body = Text()
    body.append(f.message)
    body.append("\n→ ", style="bold")
    body.append(f.action)
    evidence = _compact(f.evidence)
    if evidence:
        body.append(f"\nevidence: {evidence}", style="dim")
    title = Text.assemble((f"{ICON[f.severity]} {f.code}", STYLE[f.severity]))
    if f.subject:
        title.append(f"  {f.subject}")
    return Panel(
        body,
        title=title,
        title_align="left",
        subtitle=Text(f.section, style="dim"),
        subtitle_align="right",
        border_style=STYLE[f.severity],
    )


_QUIET_KEYS = {"defaults", "ours", "coordinates", "metric", "train_metric"}


def _compact(evidence: Mapping[str, Any], limit: int = 8) -> str:
    """The evidence's scalar numbers as ``key=value`` (lists and tables stay in --json)."""
    items = []
    for key, value in evidence.items():
        if key in _QUIET_KEYS or isinstance(value, Mapping | list | tuple) or value is None:
            continue
        if isinstance(value, float):
            items.append(f"{key}={value:.4g}")
        else:
            items.append(f"{key}={value}")
    shown = ", ".join(items[:limit])
    return shown + (", ..." if len(items) > limit else "")


def _print_settings() -> None:
    for name, (default, doc) in AnalysisConfig.describe().items():
        valid = AnalysisConfig.valid_range(name)
        valid = f" Valid: {valid}." if valid else ""
        console.print(f"[bold]{name}[/] = {default!r}  [dim]{escape(doc)}{escape(valid)}[/]")


@handle_errors
def analyze_cmd(
    study: Annotated[str | None, typer.Argument(help="Study file or study name.")] = None,
    settings: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
    show_settings: Annotated[
        bool, typer.Option("--settings", help="List the analysis thresholds and exit.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show every finding with its evidence.")
    ] = False,
    storage: Annotated[str | None, typer.Option("--storage", help=STORAGE_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """The playbook's checks, each finding with the action to take.

    Search-space boundaries, infeasible trials, sampling density (best-of-k), training curves
    (overfitting, late noise, still improving, saturation), best-step positions, gradient
    norms and isolation of each scientific hyperparameter.
    """
    if show_settings:
        _print_settings()
        return
    if study is None:
        raise typer.BadParameter("give a study file or study name", param_hint="STUDY")
    _, _, analysis = run_analysis(study, storage, settings or [])
    if as_json:
        print_json(analysis.to_json())
        return
    render_findings(analysis, verbose=verbose)


def _check_output(output: Path) -> None:
    """Refuse an --output the report cannot be written to, before any work (nothing created)."""
    if output.is_dir():
        raise ScituneError(
            f"--output {output} is a folder. Name the HTML file, e.g. -o {output / 'report.html'}."
        )
    if not output.parent.is_dir():
        raise ScituneError(
            f"--output {output}: the folder {output.parent} does not exist. Create it first "
            f"(mkdir -p {output.parent}) or write the report elsewhere."
        )


@handle_errors
def report_cmd(
    study: Annotated[str, typer.Argument(help="Study file or study name.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    settings: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
    storage: Annotated[str | None, typer.Option("--storage", help=STORAGE_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Write one self-contained, offline, interactive HTML report (findings, plots, trials)."""
    try:
        from scitune.report import ProjectRecords, write_report
    except ImportError as e:  # plotly is an extra
        raise ScituneError(
            f"the report needs plotly ({e}). Install it: pip install 'scitune[plots]'."
        ) from e
    _check_output(output)
    st, snapshot, analysis = run_analysis(study, storage, settings or [])
    project = ProjectRecords(
        tuple(st.storage.list_rounds()), tuple(st.storage.list_decisions())
    )
    path = write_report(analysis, snapshot, output, project=project)
    size = path.stat().st_size
    if as_json:
        print_json({"written": str(path), "bytes": size, "findings": len(analysis.findings)})
        return
    console.print(
        f"Wrote {escape(str(path))} ({size / 1e6:.1f} MB, {len(analysis.findings)} findings). "
        "Open it in a browser; it works offline."
    )
