"""scitune: the Deep Learning Tuning Playbook as software.

Studies with scientific / nuisance / fixed hyperparameters, quasi-random search, every trial's
training curves recorded, and the playbook's checks before any conclusion.
"""

from __future__ import annotations

from scitune.errors import Infeasible, ScituneError, ScituneWarning
from scitune.trial import Trial, current_trial

__version__ = "0.1.0"

__all__ = [
    "Infeasible",
    "ScituneError",
    "ScituneWarning",
    "Trial",
    "__version__",
    "current_trial",
]
