"""The ``scitune`` command: every subcommand takes ``--json``; exit 0 ok, 1 error, 2 usage."""

from __future__ import annotations

import typer

from scitune.cli import _init, _run, _status

app = typer.Typer(
    name="scitune",
    help="The Deep Learning Tuning Playbook as software: run studies, read the evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("init")(_init.init)
app.command("run")(_run.run)
app.command("status")(_status.status)
app.command("trials")(_status.trials)


def main() -> None:
    app()
