"""The strategy registry: Lightly's input/strategy matrix, field checks, counts, messages."""

from __future__ import annotations

import itertools

import pytest

from runner.config import (
    InputType,
    SelectionConfig,
    SelectionInput,
    SelectionStrategy,
    StrategyEntry,
    StrategyType,
    TargetRange,
    ThresholdOperation,
)
from runner.errors import ConfigError
from runner.selection.strategies import ALLOWED, BUILDERS, IMPLEMENTED, validate_selection


def entry(
    input_type: InputType | str = InputType.EMBEDDINGS,
    strategy_type: StrategyType | str = StrategyType.DIVERSITY,
    **strategy_fields: object,
) -> StrategyEntry:
    return StrategyEntry(
        input=SelectionInput(type=input_type),  # type: ignore[arg-type]
        strategy=SelectionStrategy(type=strategy_type, **strategy_fields),  # type: ignore[arg-type]
    )


def config(*entries: StrategyEntry, n: int | None = 10, p: float | None = None) -> SelectionConfig:
    return SelectionConfig(n_samples=n, proportion_samples=p, strategies=list(entries))


def error(cfg: SelectionConfig) -> str:
    with pytest.raises(ConfigError) as info:
        validate_selection(cfg)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_diversity_on_embeddings_is_valid() -> None:
    validate_selection(config(entry()))
    validate_selection(config(entry(stopping_condition_minimum_distance=0.0)))
    validate_selection(config(entry("EMBEDDINGS", "DIVERSITY")))  # plain strings, Python API


def test_no_strategies() -> None:
    assert "selection.strategies is empty" in error(config())


def test_disallowed_pair_names_the_allowed_ones() -> None:
    message = error(config(entry(), entry(InputType.METADATA, StrategyType.DIVERSITY)))
    assert message == (
        "selection.strategies[1]: DIVERSITY cannot use input METADATA;"
        " allowed with METADATA: WEIGHTS, THRESHOLD, BALANCE"
    )


def test_predictions_are_split_by_name() -> None:
    balance = entry(InputType.PREDICTIONS, StrategyType.WEIGHTS)
    balance.input.name = "CLASS_DISTRIBUTION"
    assert error(config(balance)) == (
        "selection.strategies[0]: WEIGHTS cannot use input PREDICTIONS+CLASS_DISTRIBUTION;"
        " allowed with PREDICTIONS+CLASS_DISTRIBUTION: BALANCE"
    )
    nameless = entry(InputType.PREDICTIONS, StrategyType.BALANCE)
    assert "PREDICTIONS needs name: CLASS_DISTRIBUTION or CATEGORY_COUNT" in error(config(nameless))


def test_unknown_enum_string_lists_choices() -> None:
    message = error(config(entry("EMBEDDINGS", "DIVERSTY")))
    assert message.startswith("selection.strategies[0].strategy: unknown type 'DIVERSTY'")
    assert "DIVERSITY, WEIGHTS, THRESHOLD, BALANCE, SIMILARITY, TYPICALITY" in message


def test_field_of_another_strategy_type() -> None:
    message = error(config(entry(threshold=0.5)))
    assert message.startswith("selection.strategies[0].strategy: threshold does not apply to")
    assert "DIVERSITY" in message
    assert "stopping_condition_minimum_distance" in message  # what does apply


def test_field_of_another_input_type() -> None:
    wrong = entry()
    wrong.input.key = "lightly.sharpness"
    assert error(config(wrong)).startswith(
        "selection.strategies[0].input: key does not apply to input EMBEDDINGS"
    )


def test_minimum_distance_must_not_be_negative() -> None:
    message = error(config(entry(stopping_condition_minimum_distance=-0.1)))
    assert "stopping_condition_minimum_distance must be >= 0" in message


def test_strength_must_be_finite() -> None:
    assert "strength must be finite" in error(config(entry(strength=float("inf"))))
    assert "strength must be finite" in error(config(entry(strength=2e9)))


def test_every_allowed_pair_is_implemented() -> None:
    allowed = {(key, strategy) for key, strategies in ALLOWED.items() for strategy in strategies}
    assert allowed == set(IMPLEMENTED)


def test_object_level_embeddings_are_valid_on_embedding_strategies() -> None:
    for strategy in (StrategyType.DIVERSITY, StrategyType.TYPICALITY, StrategyType.HERDING):
        crops = entry(InputType.EMBEDDINGS, strategy)
        crops.input.task = "vehicles"
        validate_selection(config(crops))  # the crops of task vehicles (runner.crops)


def _minimal(input_key: str, strategy: StrategyType) -> StrategyEntry:
    """The smallest entry Lightly would accept for this pair (if the pair is allowed)."""
    itype, _, name = input_key.partition("+")
    e = entry(InputType(itype), strategy)
    e.input.name = name or None
    if itype in ("SCORES", "PREDICTIONS"):
        e.input.task = "task"
    if itype == "SCORES":
        e.input.score = "uncertainty_margin"
    if itype == "METADATA":
        e.input.key = "lightly.sharpness"
    if strategy is StrategyType.THRESHOLD:
        e.strategy.threshold = 0.5
        e.strategy.operation = ThresholdOperation.BIGGER
    if strategy is StrategyType.BALANCE:
        e.strategy.target = {"a": 0.5}
    if strategy is StrategyType.SIMILARITY:
        e.input.tag_name = "query-tag"
    return e


@pytest.mark.parametrize(
    ("key", "strategy"), list(itertools.product(sorted(ALLOWED), list(StrategyType)))
)
def test_whole_matrix(key: str, strategy: StrategyType) -> None:
    cfg = config(_minimal(key, strategy))
    if strategy in ALLOWED[key]:
        validate_selection(cfg)
        assert strategy in BUILDERS or strategy is StrategyType.THRESHOLD
    else:
        assert "cannot use input" in error(cfg)


@pytest.mark.parametrize(
    ("input_type", "missing"),
    [("SCORES", "task"), ("METADATA", "key"), ("PREDICTIONS", "task")],
)
def test_required_input_fields(input_type: str, missing: str) -> None:
    e = _minimal(
        "PREDICTIONS+CATEGORY_COUNT" if input_type == "PREDICTIONS" else input_type,
        StrategyType.WEIGHTS,
    )
    setattr(e.input, missing, None)
    assert error(config(e)) == f"selection.strategies[0].input: {input_type} needs {missing}"


def test_similarity_needs_a_valid_tag_name() -> None:
    e = _minimal("EMBEDDINGS", StrategyType.SIMILARITY)
    e.input.tag_name = None
    assert "SIMILARITY needs tag_name" in error(config(e))
    for bad in ("ab", "../etc", "tag/sub", "-x-"):
        e.input.tag_name = bad
        assert "tag_name" in error(config(e))
    e.input.tag_name = "initial-tag 2024.01"
    e.input.dataset_id = "0123456789abcdef01234567"
    validate_selection(config(e))


def test_balance_target_and_distribution() -> None:
    e = _minimal("METADATA", StrategyType.BALANCE)
    e.strategy.target = None
    assert "BALANCE needs target" in error(config(e))
    e.strategy.target = {"a": 0.7, "b": 0.5}
    assert "target fractions sum to 1.2" in error(config(e))
    e.strategy.target = {"a": -0.1}
    assert "target fractions must be numbers in [0, 1]" in error(config(e))
    e.strategy.target = {"a": 0.5}
    e.strategy.distribution = "UNIFORM"  # type: ignore[assignment]
    assert "target applies only to distribution TARGET" in error(config(e))
    e.strategy.target = None
    validate_selection(config(e))
    e.strategy.distribution = "EVEN"  # type: ignore[assignment]
    assert "unknown distribution 'EVEN'" in error(config(e))


def test_target_range_bounds() -> None:
    e = _minimal("SCORES", StrategyType.WEIGHTS)
    e.strategy.target_range = TargetRange(min_sum=5.0, max_sum=2.0)
    assert "target_range min_sum 5 > max_sum 2" in error(config(e))
    e.strategy.target_range = TargetRange(min_sum=-1.0)
    assert "target_range bounds must be >= 0" in error(config(e))
    e.strategy.target_range = TargetRange(max_sum=3.0)
    validate_selection(config(e))


def test_threshold_operation_and_value() -> None:
    e = _minimal("SCORES", StrategyType.THRESHOLD)
    e.strategy.operation = "GREATER"  # type: ignore[assignment]
    assert "unknown operation 'GREATER'" in error(config(e))
    e.strategy.operation = ThresholdOperation.SMALLER
    e.strategy.threshold = float("nan")
    assert "threshold must be a finite number" in error(config(e))


def test_stopping_conditions_allow_unlimited_counts() -> None:
    weights = _minimal("SCORES", StrategyType.WEIGHTS)
    weights.strategy.stopping_condition_max_sum = 10.0
    validate_selection(config(weights, n=-1))
    typicality = _minimal("EMBEDDINGS", StrategyType.TYPICALITY)
    typicality.strategy.stopping_condition_minimum_typicality = 0.5
    validate_selection(config(typicality, n=-1))


@pytest.mark.parametrize(
    ("n", "p", "expected"),
    [
        (10, 0.5, "set exactly one of n_samples or proportion_samples (both are set)"),
        (None, None, "set exactly one of n_samples or proportion_samples (neither is set)"),
        (0, None, "n_samples must be >= 1, or -1 for no limit (got 0)"),
        (-2, None, "n_samples must be >= 1, or -1 for no limit (got -2)"),
        (None, 0.0, "proportion_samples must be in (0, 1] (got 0.0)"),
        (None, 1.5, "proportion_samples must be in (0, 1] (got 1.5)"),
        (-1, None, "n_samples=-1 (no limit) needs a stopping condition"),
    ],
)
def test_count_errors(n: int | None, p: float | None, expected: str) -> None:
    assert expected in error(config(entry(), n=n, p=p))


def test_count_accepted() -> None:
    validate_selection(config(entry(), n=None, p=1.0))
    validate_selection(config(entry(), n=1))
    validate_selection(config(entry(stopping_condition_minimum_distance=0.2), n=-1))
