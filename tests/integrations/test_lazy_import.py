"""torch loads only with ``scitune.integrations.torch``, never with ``import scitune``."""

from __future__ import annotations

import json
import subprocess
import sys


def loaded_after(statement: str) -> bool:
    code = f"import sys; {statement}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return bool(json.loads(out.stdout.strip().lower()))


def test_import_scitune_and_the_integrations_package_do_not_load_torch() -> None:
    assert not loaded_after("import scitune, scitune.errors, scitune.integrations")


def test_schedules_memory_and_throughput_modules_are_torch_free() -> None:
    # scitune's own commands (schedule extension, the batch-size probe) import these directly.
    assert not loaded_after(
        "import scitune.integrations._torch_schedules, scitune.integrations._torch_memory, "
        "scitune.integrations._torch_throughput"
    )
