"""Advice on a valid study: the playbook's rules that warn rather than refuse.

- Batch size is not a knob for validation performance (playbook §1, rule 7).
- The Adam budget rule (§2, rule 10): fewer than 10 trials tune only the learning rate; 10-25
  add beta1; 25+ add epsilon; "well past 25" add beta2 -- scitune reads that as 50 or more.
- The number of training steps is never tuned inside a study (§8, rule 27).
- A conditional table under a [fixed] parent set to another value never applies.
- A domain with a single value is a fixed hyperparameter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scitune._spec_params import ROLES, key_str, value_key
from scitune._spec_problems import Loc, format_path, show
from scitune.space import ChoiceDomain, Domain, Value

if TYPE_CHECKING:
    from scitune.spec import StudySpec

#: "Well past 25" trials, in scitune's reading: tune beta2 too from this many trials on.
ADAM_BETA2_TRIALS = 50

_BATCH_SIZE = re.compile(r"batch[_-]?size", re.IGNORECASE)
_TRAIN_STEPS = re.compile(r"(max_)?(num_)?(train(ing)?_)?(steps|epochs)", re.IGNORECASE)
_OPTIMIZER = re.compile(r"optim(izer)?", re.IGNORECASE)
_ADAM_PARAMS = {
    "learning_rate": re.compile(r"(adam_)?(learning_rate|lr)", re.IGNORECASE),
    "beta1": re.compile(r"(adam_)?(beta_?1|b1)", re.IGNORECASE),
    "epsilon": re.compile(r"(adam_)?(epsilon|eps)", re.IGNORECASE),
    "beta2": re.compile(r"(adam_)?(beta_?2|b2)", re.IGNORECASE),
}
# (fewest trials per scientific value, what may be tuned from there on)
_ADAM_TIERS = (
    (0, ("learning_rate",)),
    (10, ("learning_rate", "beta1")),
    (25, ("learning_rate", "beta1", "epsilon")),
    (ADAM_BETA2_TRIALS, ("learning_rate", "beta1", "epsilon", "beta2")),
)
_ADAM_DEFAULTS = {"beta1": "0.9", "epsilon": "1e-8", "beta2": "0.999"}


def adam_tunable(trials: int) -> tuple[str, ...]:
    """Which Adam hyperparameters a budget of ``trials`` per scientific value supports (§2).

    < 10 trials: the learning rate; 10-25: + beta1; 25+: + epsilon; from
    ``ADAM_BETA2_TRIALS`` (our reading of "well past 25"): + beta2.
    """
    return next(tier for least, tier in reversed(_ADAM_TIERS) if trials >= least)


def adam_default(name: str) -> str:
    """Adam's usual fixed value for a hyperparameter the budget does not support tuning."""
    return _ADAM_DEFAULTS[name]


@dataclass(frozen=True)
class _Tuned:
    role: str
    loc: Loc
    name: str
    domain: Domain
    condition: tuple[str, Value] | None


def _tuned(spec: StudySpec) -> Iterator[_Tuned]:
    for role, params, when in (
        ("scientific", spec.scientific, spec.scientific_when),
        ("nuisance", spec.nuisance, spec.nuisance_when),
    ):
        for name, domain in params.items():
            yield _Tuned(role, (role, name), name, domain, None)
        for parent, by_value in when.items():
            for value, sub in by_value.items():
                for name, domain in sub.items():
                    loc = (role, "when", parent, key_str(value), name)
                    yield _Tuned(role, loc, name, domain, (parent, value))


def study_warnings(spec: StudySpec) -> list[str]:
    """Every piece of advice for ``spec``, each naming the file (if any) and the field path."""
    prefix = f"{spec.source}: " if spec.source is not None else ""
    tuned = list(_tuned(spec))
    out: list[str] = []
    for item in tuned:
        path = format_path(item.loc)
        if _BATCH_SIZE.search(item.name):
            out.append(
                f"{prefix}{path}: the playbook says batch size is not a knob for validation "
                "performance; choose it from throughput (`scitune probe batch-size`) and keep "
                f"it fixed: move {item.name} to [fixed]. Changing it means re-tuning the "
                "optimizer and regularization."
            )
        if _TRAIN_STEPS.fullmatch(item.name):
            out.append(
                f"{prefix}{path}: the playbook says the number of training steps is never "
                "tuned inside a study; every trial gets budget.max_train_steps. Remove "
                f"{item.name}, or study training length on its own."
            )
        if isinstance(item.domain, ChoiceDomain) and len(item.domain.values) == 1:
            out.append(
                f"{prefix}{path}: has a single value {show(item.domain.values[0])}; a "
                f"hyperparameter that never changes is fixed: move {item.name} to [fixed]."
            )
    out.extend(_inactive(spec, prefix))
    adam = _adam(spec, tuned, prefix)
    if adam:
        out.append(adam)
    return out


def _inactive(spec: StudySpec, prefix: str) -> Iterator[str]:
    for role, when in zip(
        ROLES, (spec.scientific_when, spec.nuisance_when, spec.fixed_when), strict=True
    ):
        for parent, by_value in when.items():
            if parent not in spec.fixed:
                continue
            fixed = spec.fixed[parent]
            for value, sub in by_value.items():
                if value_key(value) == value_key(fixed):
                    continue
                path = format_path((role, "when", parent, key_str(value)))
                names = f" ({', '.join(sub)})" if sub else ""
                yield (
                    f"{prefix}{path}: {parent} is fixed to {show(fixed)}, so this table{names} "
                    f"never applies; likely a mistake. Change [fixed] {parent} or remove the table."
                )


def _adam_values(spec: StudySpec) -> tuple[str, list[Value]] | None:
    """The optimizer hyperparameter and its Adam/NAdam values, when the study uses Adam."""
    for name, value in spec.fixed.items():
        if _OPTIMIZER.fullmatch(name) and isinstance(value, str) and "adam" in value.lower():
            return name, [value]
    for name, domain in spec.scientific.items():
        if _OPTIMIZER.fullmatch(name) and isinstance(domain, ChoiceDomain):
            adam: list[Value] = [
                v for v in domain.values if isinstance(v, str) and "adam" in v.lower()
            ]
            if adam:
                return name, adam
    return None


def _scientific_values(spec: StudySpec) -> int:
    """How many scientific configurations share the budget in a joint study (1 if unknown)."""
    if spec.search.design == "per_value":
        return 1
    domains = list(spec.scientific.values())
    if not domains or not all(isinstance(d, ChoiceDomain) for d in domains):
        return 1
    return math.prod(len(d.values) for d in domains if isinstance(d, ChoiceDomain))


def _adam(spec: StudySpec, tuned: list[_Tuned], prefix: str) -> str | None:
    found = _adam_values(spec)
    if found is None:
        return None
    optimizer, adam_values = found
    adam_keys = {value_key(v) for v in adam_values}
    names: dict[str, list[str]] = {}
    for item in tuned:
        condition = item.condition
        if condition and condition[0] == optimizer and value_key(condition[1]) not in adam_keys:
            continue  # tuned for another optimizer
        for category, pattern in _ADAM_PARAMS.items():
            if pattern.fullmatch(item.name) and item.name not in names.get(category, []):
                names.setdefault(category, []).append(item.name)
    shared = _scientific_values(spec)
    per_value = spec.budget.trials // shared
    allowed = next(tier for least, tier in reversed(_ADAM_TIERS) if per_value >= least)
    extra = [c for c in _ADAM_PARAMS if c in names and c not in allowed]
    if not extra:
        return None
    needed = min(least for least, tier in _ADAM_TIERS if all(c in tier for c in names))
    extra_list = [n for c in extra for n in names[c]]
    extra_names = ", ".join(extra_list)
    allowed_names = " and ".join(allowed).replace("learning_rate", "the learning rate")
    defaults = ", ".join(f"{names[c][0]} = {_ADAM_DEFAULTS[c]}" for c in extra)
    per = "per scientific value"
    if shared > 1:
        per += f" ({spec.budget.trials} shared by {shared})"
    return (
        f"{prefix}Adam budget rule: {per_value} trials {per} support tuning only "
        f"{allowed_names}, but {extra_names} {'is' if len(extra_list) == 1 else 'are'} tuned too. "
        "The playbook: fewer than 10 trials, tune only the learning rate; 10-25, add beta1; "
        f"25+, add epsilon; well past 25 (scitune's choice: {ADAM_BETA2_TRIALS}+), add beta2. "
        f"Fix them in [fixed] (e.g. {defaults}) or raise budget.trials to "
        f"{needed * shared}."
    )
