"""Helpers for training code written with a framework: ``scitune.integrations.torch``.

Each framework's helpers live in their own module and import the framework only there, so
``import scitune`` (which every trial runs) never loads it.
"""

from __future__ import annotations

__all__: list[str] = []
