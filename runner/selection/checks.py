"""Value checks of single strategy entries, one line per problem (used by the registry).

Lightly's API models constrain each field (strength, stopping conditions, tag names, BALANCE
targets, WEIGHTS target ranges); these checks give the same limits with messages that name the
offending entry, e.g. ``selection.strategies[2].strategy: ...``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TypeVar

from runner.config import (
    BalanceDistribution,
    InputType,
    SelectionStrategy,
    StrategyEntry,
    StrategyType,
    ThresholdOperation,
)
from runner.errors import ConfigError
from runner.selection.weights import range_bounds

E = TypeVar("E", InputType, StrategyType, BalanceDistribution, ThresholdOperation)
S = StrategyType
_MAX_STRENGTH = 1e9

# Input fields without which an input cannot be resolved.
REQUIRED_INPUT_FIELDS: dict[InputType, tuple[str, ...]] = {
    InputType.SCORES: ("task", "score"),
    InputType.METADATA: ("key",),
    InputType.PREDICTIONS: ("task",),
}
TAG_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9 .:;=@_-]+$")  # Lightly's pattern, >= 3 chars


def enum_value(cls: type[E], value: str, where: str, what: str = "type") -> E:
    """Parse a Lightly enum string (or enum) with a one-line error listing the choices."""
    try:
        return cls(value)
    except ValueError:
        choices = ", ".join(m.value for m in cls)
        raise ConfigError(f"{where}: unknown {what} {value!r}; choose one of {choices}") from None


INACTIVE_DISTANCE = -1.0
"""``stopping_condition_minimum_distance: -1``: no stopping condition (Lightly's tests use it)."""


def active_min_distance(strategy: SelectionStrategy) -> float | None:
    """The DIVERSITY stopping distance, or None when unset or ``-1`` (inactive)."""
    distance = strategy.stopping_condition_minimum_distance
    return None if distance is None or distance == INACTIVE_DISTANCE else distance


def check_values(strategy: SelectionStrategy, where: str) -> None:
    """Range checks of the numeric strategy fields, as in Lightly's API models."""
    s = strategy
    if not math.isfinite(s.strength) or abs(s.strength) > _MAX_STRENGTH:
        raise ConfigError(f"{where}.strategy: strength must be finite and |strength| <= 1e9")
    distance = s.stopping_condition_minimum_distance
    if distance is not None and distance != INACTIVE_DISTANCE and not distance >= 0:
        raise ConfigError(
            f"{where}.strategy: stopping_condition_minimum_distance must be >= 0, "
            "or -1 for no stopping condition"
        )
    if s.stopping_condition_max_sum is not None and not s.stopping_condition_max_sum >= 0:
        raise ConfigError(f"{where}.strategy: stopping_condition_max_sum must be >= 0")
    typicality = s.stopping_condition_minimum_typicality
    if typicality is not None and not 0 < typicality <= 1:
        raise ConfigError(
            f"{where}.strategy: stopping_condition_minimum_typicality must be in (0, 1]"
        )
    if s.num_nearest_neighbors is not None and s.num_nearest_neighbors < 2:
        raise ConfigError(f"{where}.strategy: num_nearest_neighbors must be >= 2")
    if s.type == S.THRESHOLD and (s.threshold is None or s.operation is None):
        raise ConfigError(f"{where}.strategy: THRESHOLD needs both threshold and operation")
    if s.operation is not None:
        enum_value(ThresholdOperation, s.operation, f"{where}.strategy", "operation")
    if s.threshold is not None and not math.isfinite(s.threshold):
        raise ConfigError(f"{where}.strategy: threshold must be a finite number")


def check_required(entry: StrategyEntry, stype: StrategyType, where: str) -> None:
    """Fields an input or strategy cannot do without."""
    itype = InputType(entry.input.type)
    for name in REQUIRED_INPUT_FIELDS.get(itype, ()):
        if getattr(entry.input, name) is None:
            raise ConfigError(f"{where}.input: {itype.value} needs {name}")
    if stype is S.SIMILARITY:
        tag = entry.input.tag_name
        if tag is None:
            raise ConfigError(
                f"{where}.input: SIMILARITY needs tag_name, the tag whose samples are the"
                " query (.lightly/tags/<tag_name>.txt or a run's selection)"
            )
        if len(tag) < 3 or not TAG_NAME.match(tag):
            raise ConfigError(
                f"{where}.input: tag_name {tag!r} must have >= 3 characters, start with a"
                " letter or digit and use only letters, digits, space and .:;=@_-"
            )


def check_balance(strategy: SelectionStrategy, where: str) -> None:
    """``target`` is needed for (and only for) ``distribution: TARGET``."""
    mode = enum_value(
        BalanceDistribution, strategy.distribution or "TARGET", f"{where}.strategy", "distribution"
    )
    target = strategy.target
    if mode is not BalanceDistribution.TARGET:
        if target is not None:
            raise ConfigError(
                f"{where}.strategy: target applies only to distribution TARGET"
                f" (distribution is {mode.value})"
            )
        return
    if not target:
        raise ConfigError(
            f"{where}.strategy: BALANCE needs target ({{class: fraction}}) or distribution"
            " UNIFORM or INPUT"
        )
    fractions = list(target.values()) if isinstance(target, Mapping) else []
    if not all(isinstance(f, int | float) and 0 <= f <= 1 for f in fractions):
        raise ConfigError(f"{where}.strategy: target fractions must be numbers in [0, 1]")
    if sum(fractions) > 1 + 1e-6:
        raise ConfigError(
            f"{where}.strategy: target fractions sum to {sum(fractions):g}; they must sum to"
            " at most 1 (the remainder is for all other classes)"
        )


def check_target_range(strategy: SelectionStrategy, where: str) -> None:
    """``0 <= min_sum <= max_sum``."""
    bounds = range_bounds(strategy.target_range)
    if bounds is None:
        return
    low, high = bounds
    if not (low >= 0 and high >= 0):
        raise ConfigError(f"{where}.strategy: target_range bounds must be >= 0")
    if low > high:
        raise ConfigError(f"{where}.strategy: target_range min_sum {low:g} > max_sum {high:g}")
