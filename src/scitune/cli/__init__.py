"""Command-line interface (typer + rich)."""

from __future__ import annotations

from scitune.cli._app import app, main

__all__ = ["app", "main"]
