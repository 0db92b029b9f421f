"""Putting data into an HTML page safely: escaped text, inert JSON, one copy of plotly.js."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from typing import Any

__all__ = ["csp_hash", "h", "json_block", "script_json"]

_JSON_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def h(text: object) -> str:
    """Text for HTML content or a quoted attribute value."""
    return html.escape(str(text), quote=True)


def script_json(text: str) -> str:
    """JSON text made inert inside ``<script>``: no ``</script>``, ``<!--`` or ``]]>`` can form.

    The escapes (``\\u003c``...) only ever occur inside JSON strings, where they mean the same
    characters, so the result is still the same JSON.
    """
    return text.translate(_JSON_ESCAPES)


def json_block(element_id: str, data: Any) -> str:
    """A ``<script type="application/json">`` element holding ``data`` (never executed)."""
    text = json.dumps(_finite(data), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return json_element(element_id, text)


def json_element(element_id: str, json_text: str) -> str:
    return f'<script type="application/json" id="{h(element_id)}">{script_json(json_text)}</script>'


def csp_hash(script: str) -> str:
    """The Content-Security-Policy source that allows exactly this inline script."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _finite(obj: Any) -> Any:
    """NaN and infinities are not JSON: null (the trial table shows the state instead)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj
