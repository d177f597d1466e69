"""HERDING: shares follow the density, modes are covered, it composes and it is deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import runner.selection.herding as herding_module
from runner.config import (
    InputType,
    SelectionConfig,
    SelectionInput,
    SelectionStrategy,
    StrategyEntry,
    StrategyType,
    ThresholdOperation,
)
from runner.errors import ConfigError
from runner.inputs.values import InputValues, ValueKind
from runner.selection.select import select

EMBEDDINGS = SelectionInput(type=InputType.EMBEDDINGS)


def entry(stype: StrategyType, **fields: object) -> StrategyEntry:
    return StrategyEntry(input=EMBEDDINGS, strategy=SelectionStrategy(type=stype, **fields))  # type: ignore[arg-type]


def config(n: int, *entries: StrategyEntry) -> SelectionConfig:
    return SelectionConfig(n_samples=n, strategies=list(entries) or [entry(StrategyType.HERDING)])


def picks(x: npt.NDArray[np.floating], n: int, *entries: StrategyEntry, **kw: object) -> list[int]:
    return select(embeddings=x, cfg=config(n, *entries), seed=0, **kw).indices  # type: ignore[arg-type]


def mixture(
    sizes: list[int], spread: list[float], d: int = 32, seed: int = 0
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Gaussian clusters around orthogonal-ish centres; returns rows and their cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(sizes), d))
    rows = [
        c + s * rng.standard_normal((n, d)) for c, n, s in zip(centres, sizes, spread, strict=True)
    ]
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return np.concatenate(rows).astype(np.float32), labels


def test_a_tight_minority_gets_its_share_where_k_center_starves_it() -> None:
    # 15 near-identical rows among 100 scattered ones: a random 50 holds ~6.5 of them.
    rng = np.random.default_rng(1)
    tight = rng.standard_normal(64) + 0.02 * rng.standard_normal((15, 64))
    scattered = rng.standard_normal((100, 64))
    x = np.concatenate([tight, scattered]).astype(np.float32)
    herding = sum(p < 15 for p in picks(x, 50))
    kcenter = sum(p < 15 for p in picks(x, 50, entry(StrategyType.DIVERSITY)))
    assert kcenter <= 2
    assert 4 <= herding <= 10


def test_shares_follow_the_cluster_sizes_and_a_long_tail_is_covered() -> None:
    sizes = [150, 90, 60, 40, 25, 16, 10, 7, 5, 4]
    x, labels = mixture(sizes, [0.3] * 10)
    chosen = labels[picks(x, 60)]
    counts = np.bincount(chosen, minlength=10)
    expected = 60 * np.array(sizes) / sum(sizes)
    assert np.all(np.abs(counts - expected) <= 1.5), (counts, expected.round(1))
    assert np.count_nonzero(counts) >= 9


def test_first_pick_is_the_densest_row_and_no_row_is_picked_twice() -> None:
    x, labels = mixture([200, 20], [0.1, 1.0])
    order = picks(x, 100)
    assert labels[order[0]] == 0
    assert len(set(order)) == 100


def test_deterministic_and_independent_of_the_seed() -> None:
    x, _ = mixture([80, 40, 20], [0.5, 0.5, 0.5])
    runs = [select(embeddings=x, cfg=config(30), seed=s).indices for s in (0, 0, 7)]
    assert runs[0] == runs[1] == runs[2]


def test_preselected_rows_count_as_covered() -> None:
    # Half of cluster 0's share is already in the datapool: the new picks make up the rest.
    x, labels = mixture([100, 100], [0.3, 0.3])
    preselected = list(range(10))  # 10 rows of cluster 0
    chosen = labels[picks(x, 20, preselected=preselected)]
    assert 0 not in set(picks(x, 20, preselected=preselected)) & set(preselected)
    assert np.count_nonzero(chosen == 1) >= 13


def test_composes_with_threshold_and_weights() -> None:
    x, labels = mixture([100, 100], [0.3, 0.3])
    score = np.where(labels == 0, 1.0, 0.0)
    values = InputValues(kind=ValueKind.NUMERIC, values=score)
    scores_input = SelectionInput(type=InputType.SCORES, task="t", score="s")
    threshold = StrategyEntry(
        input=scores_input,
        strategy=SelectionStrategy(
            type=StrategyType.THRESHOLD, threshold=0.5, operation=ThresholdOperation.BIGGER
        ),
    )
    kept = picks(x, 20, threshold, entry(StrategyType.HERDING), resolve_input=lambda *_: values)
    assert set(labels[kept]) == {0}
    weights = StrategyEntry(
        input=scores_input, strategy=SelectionStrategy(type=StrategyType.WEIGHTS)
    )
    weighted = picks(x, 20, entry(StrategyType.HERDING), weights, resolve_input=lambda *_: values)
    assert np.count_nonzero(labels[weighted] == 0) == 20


def test_large_inputs_use_a_sampled_base_and_keep_proportions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(herding_module, "_BASE", 500)
    monkeypatch.setattr(herding_module, "_QUERIES", 200)
    x, labels = mixture([1400, 600], [0.4, 0.4], d=80)
    result = select(embeddings=x, cfg=config(50), seed=0)
    share = np.count_nonzero(labels[result.indices] == 0) / 50
    assert 0.6 <= share <= 0.8
    [summary] = result.per_strategy
    assert summary["density_base_rows"] == 500 and summary["strategy"] == "HERDING"


def test_herding_fields_are_checked_in_one_line() -> None:
    bad = entry(StrategyType.HERDING, stopping_condition_minimum_distance=0.1)
    with pytest.raises(ConfigError, match="does not apply to HERDING"):
        select(embeddings=np.eye(4, dtype=np.float32), cfg=config(2, bad), seed=0)
    scores = StrategyEntry(
        input=SelectionInput(type=InputType.SCORES, task="t", score="s"),
        strategy=SelectionStrategy(type=StrategyType.HERDING),
    )
    with pytest.raises(ConfigError, match="HERDING cannot use input SCORES"):
        select(embeddings=np.eye(4, dtype=np.float32), cfg=config(2, scores), seed=0)


def test_a_float16_memory_map_selects_like_the_same_values_in_memory(tmp_path: Path) -> None:
    x, _ = mixture([300, 100], [0.3, 0.3], d=96)
    np.save(tmp_path / "e.npy", x.astype(np.float16))
    mapped = np.load(tmp_path / "e.npy", mmap_mode="r")
    assert picks(mapped, 40) == picks(np.asarray(mapped, dtype=np.float32), 40)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_copies_and_identical_rows_keep_the_kernel_finite() -> None:
    rng = np.random.default_rng(2)
    copies = np.concatenate([np.ones((40, 8)), rng.standard_normal((10, 8))]).astype(np.float32)
    chosen = picks(copies, 10)
    assert len(set(chosen)) == 10 and sum(p < 40 for p in chosen) >= 5
    assert picks(np.ones((20, 8), dtype=np.float32), 5) == [0, 1, 2, 3, 4]
    assert picks(np.zeros((20, 8), dtype=np.float32), 3) == [0, 1, 2]
