"""The strategy registry: which inputs each strategy takes, its fields, and its builder.

Users write Lightly's enum strings; :data:`BUILDERS` dispatches them with a plain dict.
:func:`validate_selection` checks a ``selection_config`` the way Lightly documents it and
raises one-line :class:`~runner.errors.ConfigError` messages that name the offending entry.
Dataclass unions are not possible in the config schema, so every strategy entry carries all
fields and this module checks which belong to which type.
"""

from __future__ import annotations

from dataclasses import fields

from runner.config import (
    InputType,
    SelectionConfig,
    SelectionInput,
    SelectionStrategy,
    StrategyEntry,
    StrategyType,
)
from runner.errors import ConfigError
from runner.selection.balance import build_balance
from runner.selection.checks import (
    active_min_distance,
    check_balance,
    check_required,
    check_target_range,
    check_values,
    enum_value,
)
from runner.selection.diversity import build_diversity
from runner.selection.herding import build_herding
from runner.selection.objective import ObjectiveBuilder
from runner.selection.similarity import build_similarity
from runner.selection.typicality import build_typicality
from runner.selection.weights import build_weights

S = StrategyType

# Lightly's documented input/strategy matrix (plus our HERDING on EMBEDDINGS). PREDICTIONS is
# split by its ``name``.
ALLOWED: dict[str, tuple[StrategyType, ...]] = {
    "EMBEDDINGS": (S.DIVERSITY, S.SIMILARITY, S.TYPICALITY, S.HERDING),
    "METADATA": (S.WEIGHTS, S.THRESHOLD, S.BALANCE),
    "PREDICTIONS+CATEGORY_COUNT": (S.WEIGHTS, S.THRESHOLD),
    "PREDICTIONS+CLASS_DISTRIBUTION": (S.BALANCE,),
    "RANDOM": (S.WEIGHTS, S.THRESHOLD),
    "SCORES": (S.WEIGHTS, S.THRESHOLD),
}
PREDICTION_NAMES = ("CLASS_DISTRIBUTION", "CATEGORY_COUNT")

# Fields of ``strategy`` that each type accepts besides ``type``. ``strength`` is accepted
# everywhere; on THRESHOLD (a filter, not an objective) only at its default 1.0.
STRATEGY_FIELDS: dict[StrategyType, frozenset[str]] = {
    S.DIVERSITY: frozenset({"strength", "stopping_condition_minimum_distance"}),
    S.WEIGHTS: frozenset({"strength", "stopping_condition_max_sum", "target_range"}),
    S.THRESHOLD: frozenset({"strength", "threshold", "operation"}),
    S.BALANCE: frozenset({"strength", "target", "distribution"}),
    S.SIMILARITY: frozenset({"strength"}),
    S.TYPICALITY: frozenset(
        {"strength", "num_nearest_neighbors", "stopping_condition_minimum_typicality"}
    ),
    S.HERDING: frozenset({"strength", "num_nearest_neighbors"}),
}

# Fields of ``input`` that each input type accepts besides ``type``.
INPUT_FIELDS: dict[InputType, frozenset[str]] = {
    InputType.EMBEDDINGS: frozenset({"task", "dataset_id", "tag_name"}),
    InputType.SCORES: frozenset({"task", "score"}),
    InputType.METADATA: frozenset({"key"}),
    InputType.PREDICTIONS: frozenset({"task", "name", "categories"}),
    InputType.RANDOM: frozenset({"random_seed"}),
}

# (input key, strategy) pairs this version implements, each with the optional input fields
# it supports (EMBEDDINGS' task = the crops of that task, runner.crops; dataset_id is accepted
# and ignored).
_SCORES = frozenset({"task", "score"})
_PREDICTIONS = frozenset({"task", "name", "categories"})
_CROPS = frozenset({"task"})
IMPLEMENTED: dict[tuple[str, StrategyType], frozenset[str]] = {
    ("EMBEDDINGS", S.DIVERSITY): _CROPS,
    ("EMBEDDINGS", S.SIMILARITY): frozenset({"dataset_id", "tag_name", "task"}),
    ("EMBEDDINGS", S.TYPICALITY): _CROPS,
    ("EMBEDDINGS", S.HERDING): _CROPS,
    ("METADATA", S.WEIGHTS): frozenset({"key"}),
    ("METADATA", S.THRESHOLD): frozenset({"key"}),
    ("METADATA", S.BALANCE): frozenset({"key"}),
    ("PREDICTIONS+CATEGORY_COUNT", S.WEIGHTS): _PREDICTIONS,
    ("PREDICTIONS+CATEGORY_COUNT", S.THRESHOLD): _PREDICTIONS,
    ("PREDICTIONS+CLASS_DISTRIBUTION", S.BALANCE): frozenset({"task", "name"}),
    ("RANDOM", S.WEIGHTS): frozenset({"random_seed"}),
    ("RANDOM", S.THRESHOLD): frozenset({"random_seed"}),
    ("SCORES", S.WEIGHTS): _SCORES,
    ("SCORES", S.THRESHOLD): _SCORES,
}
# THRESHOLD is a filter applied by select(), not an objective: it has no builder.
BUILDERS: dict[StrategyType, ObjectiveBuilder] = {
    S.DIVERSITY: build_diversity,
    S.WEIGHTS: build_weights,
    S.BALANCE: build_balance,
    S.SIMILARITY: build_similarity,
    S.TYPICALITY: build_typicality,
    S.HERDING: build_herding,
}
STOPPING_FIELDS = (
    "stopping_condition_minimum_distance",
    "stopping_condition_minimum_typicality",
    "stopping_condition_max_sum",
)


def _set_fields(obj: SelectionInput | SelectionStrategy) -> list[str]:
    """Names of the fields set to something other than ``None`` (``type`` excluded)."""
    return [f.name for f in fields(obj) if f.name != "type" and getattr(obj, f.name) is not None]


def input_key(entry: StrategyEntry, where: str = "selection.strategies[?]") -> str:
    """The row of the input/strategy matrix an entry's input belongs to.

    Args:
        entry: One strategy entry.
        where: Prefix for error messages.

    Returns:
        ``"EMBEDDINGS"``, ``"PREDICTIONS+CLASS_DISTRIBUTION"``, ...

    Raises:
        ConfigError: Unknown input type, or PREDICTIONS without a valid ``name``.
    """
    itype = enum_value(InputType, entry.input.type, f"{where}.input")
    if itype is not InputType.PREDICTIONS:
        return str(itype.value)
    if entry.input.name not in PREDICTION_NAMES:
        raise ConfigError(
            f"{where}.input: PREDICTIONS needs name: {' or '.join(PREDICTION_NAMES)}"
            f" (got {entry.input.name!r})"
        )
    return f"PREDICTIONS+{entry.input.name}"


def _check_fields(entry: StrategyEntry, stype: StrategyType, where: str) -> None:
    """Reject fields that do not belong to the input type or the strategy type."""
    itype = InputType(entry.input.type)
    for name in _set_fields(entry.input):
        if name not in INPUT_FIELDS[itype]:
            allowed = ", ".join(sorted(INPUT_FIELDS[itype])) or "none"
            raise ConfigError(
                f"{where}.input: {name} does not apply to input {itype.value}"
                f" (fields of {itype.value}: {allowed})"
            )
    for name in _set_fields(entry.strategy):
        if name not in STRATEGY_FIELDS[stype]:
            allowed = ", ".join(sorted(STRATEGY_FIELDS[stype]))
            raise ConfigError(
                f"{where}.strategy: {name} does not apply to {stype.value}"
                f" (fields of {stype.value}: {allowed})"
            )
    if stype is S.THRESHOLD and entry.strategy.strength != 1.0:
        raise ConfigError(f"{where}.strategy: strength does not apply to THRESHOLD (a filter)")


def _check_entry(entry: StrategyEntry, i: int) -> None:
    """Validate one strategy entry; see :func:`validate_selection`."""
    where = f"selection.strategies[{i}]"
    stype = enum_value(StrategyType, entry.strategy.type, f"{where}.strategy")
    key = input_key(entry, where)
    if stype not in ALLOWED[key]:
        allowed = ", ".join(s.value for s in ALLOWED[key])
        raise ConfigError(
            f"{where}: {stype.value} cannot use input {key}; allowed with {key}: {allowed}"
        )
    _check_fields(entry, stype, where)
    check_values(entry.strategy, where)
    if stype is S.BALANCE:
        check_balance(entry.strategy, where)
    if stype is S.WEIGHTS:
        check_target_range(entry.strategy, where)
    supported = IMPLEMENTED.get((key, stype))
    extras = [f for f in _set_fields(entry.input) if supported is not None and f not in supported]
    if supported is None or extras:
        implemented = ", ".join(f"{k}→{s.value}" for k, s in sorted(IMPLEMENTED))
        what = f"{stype.value} on {key}" + (f" with {', '.join(extras)}" if extras else "")
        message = f"{where}: {what} is not implemented yet in lightly-runner"
        raise ConfigError(f"{message} (implemented: {implemented})")
    check_required(entry, stype, where)


def has_stopping_condition(cfg: SelectionConfig) -> bool:
    """Whether any strategy sets a stopping condition."""
    return any(
        getattr(e.strategy, name) is not None
        and (name != STOPPING_FIELDS[0] or active_min_distance(e.strategy) is not None)
        for e in cfg.strategies
        for name in STOPPING_FIELDS
    )


def _check_count(cfg: SelectionConfig) -> None:
    """Exactly one of ``n_samples`` / ``proportion_samples``, each in its range."""
    n, p = cfg.n_samples, cfg.proportion_samples
    if (n is None) == (p is None):
        raise ConfigError(
            "selection: set exactly one of n_samples or proportion_samples"
            + (" (both are set)" if n is not None else " (neither is set)")
        )
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or (n < 1 and n != -1):
            raise ConfigError(f"selection.n_samples must be >= 1, or -1 for no limit (got {n!r})")
        if n == -1 and not has_stopping_condition(cfg):
            raise ConfigError(
                "selection.n_samples=-1 (no limit) needs a stopping condition, e.g."
                " stopping_condition_minimum_distance on DIVERSITY"
            )
    if p is not None and not 0 < p <= 1:
        raise ConfigError(f"selection.proportion_samples must be in (0, 1] (got {p!r})")


def validate_selection(cfg: SelectionConfig) -> None:
    """Check a ``selection_config`` before any work is done.

    Args:
        cfg: The selection config, as composed.

    Raises:
        ConfigError: One line naming the first problem found.
    """
    if not cfg.strategies:
        raise ConfigError("selection.strategies is empty; add at least one strategy")
    for i, entry in enumerate(cfg.strategies):
        _check_entry(entry, i)
    _check_count(cfg)
