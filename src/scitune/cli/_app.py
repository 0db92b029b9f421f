"""The ``scitune`` command: every subcommand takes ``--json``; exit 0 ok, 1 error, 2 usage."""

from __future__ import annotations

import typer

from scitune.cli._analyze import analyze_cmd, report_cmd
from scitune.cli._decide import adopt, baseline_app, compare, reject
from scitune.cli._delete import delete
from scitune.cli._extend import extend
from scitune.cli._init import init
from scitune.cli._max_steps import max_steps  # noqa: F401 - registers `recommend max-steps`
from scitune.cli._probe import probe_app
from scitune.cli._recommend import recommend_app
from scitune.cli._refine import refine
from scitune.cli._reseed import reseed
from scitune.cli._round import round_app
from scitune.cli._run import run
from scitune.cli._stability import stability_app
from scitune.cli._status import status, trials

app = typer.Typer(
    name="scitune",
    help="The Deep Learning Tuning Playbook as software: run studies, read the evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("init")(init)
app.command("run")(run)
app.command("status")(status)
app.command("trials")(trials)
app.command("analyze")(analyze_cmd)
app.command("report")(report_cmd)
app.command("reseed")(reseed)
app.command("compare")(compare)
app.command("refine")(refine)
app.command("extend")(extend)
app.command("adopt")(adopt)
app.command("reject")(reject)
app.command("delete")(delete)
app.add_typer(baseline_app, name="baseline")
app.add_typer(round_app, name="round")
app.add_typer(recommend_app, name="recommend")
app.add_typer(stability_app, name="stability")
app.add_typer(probe_app, name="probe")


def main() -> None:
    app()
