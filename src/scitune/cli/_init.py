"""``scitune init``: write a commented study file to start from."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import typer

from scitune.cli._common import JSON_HELP, console, handle_errors, print_json
from scitune.errors import ScituneError

TEMPLATES = {"default": "default.toml", "mnist1d": "mnist1d.toml"}


def template_text(example: str) -> str:
    return resources.files("scitune.cli").joinpath("templates", TEMPLATES[example]).read_text()


@handle_errors
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the study file.")] = Path(
        "study.toml"
    ),
    example: Annotated[
        Literal["default", "mnist1d"],
        typer.Option(help="Start from an example: the MNIST-1D CNN learning-rate study."),
    ] = "default",
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Write a commented study file (scientific / nuisance / fixed, objective, budget)."""
    if path.exists() and not force:
        raise ScituneError(f"{path} already exists; pass --force to overwrite it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(template_text(example))
    if as_json:
        print_json({"written": str(path), "example": example})
        return
    console.print(f"Wrote {path}. Edit it, then: scitune run {path} --workers 2")
    if example == "mnist1d":
        console.print(
            "It runs examples.mnist1d.train:main: run it from a scitune checkout "
            "(the directory that holds examples/)."
        )
