"""scitune: the Deep Learning Tuning Playbook as software.

Studies with scientific / nuisance / fixed hyperparameters, quasi-random search, every trial's
training curves recorded, and the playbook's checks before any conclusion.

``import scitune`` stays light (it runs at the start of every trial): the study model, the
store and the runner load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from scitune.errors import Infeasible, ScituneError, ScituneWarning
from scitune.trial import Trial, current_trial

if TYPE_CHECKING:
    from scitune.execution import Runner
    from scitune.spec import StudySpec, load_spec
    from scitune.study import Study

__version__ = "0.1.0"

__all__ = [
    "Infeasible",
    "Runner",
    "ScituneError",
    "ScituneWarning",
    "Study",
    "StudySpec",
    "Trial",
    "__version__",
    "current_trial",
    "load_spec",
]

_LAZY = {
    "Runner": "scitune.execution",
    "Study": "scitune.study",
    "StudySpec": "scitune.spec",
    "load_spec": "scitune.spec",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'scitune' has no attribute {name!r}")
