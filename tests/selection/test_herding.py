"""HERDING: shares follow the density, modes are covered, it composes and it is deterministic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from runner.selection.greedy import greedy
from runner.selection.partition import partition
from runner.selection.projection import unit_projection
from runner.selection.select import select
from runner.selection.weights import WeightsObjective

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


class ReferenceHerding:
    """The exhaustive engine HERDING had before the lazy one: every row rescored per pick."""

    name = "HERDING"
    static = False

    def __init__(self, x: npt.NDArray[np.floating], preselected: list[int], budget: int) -> None:
        rows = unit_projection(x)
        k = max(
            herding_module.DEFAULT_NEIGHBORS, round(len(x) / (10 * (budget + len(preselected))))
        )
        self.sigma2 = herding_module.bandwidth(rows, k)
        self.a = herding_module.log_kernel_rows(rows, self.sigma2)
        self.mu = herding_module.kernel_mean(self.a, self.sigma2)
        self.tau = max(float(np.median(self.mu)), 1e-12)
        self.penalty = np.zeros(len(x))
        self.count = 0
        for row in preselected:
            self.update(row)

    def gain(self) -> npt.NDArray[np.float64]:
        return self.mu - self.penalty / (self.count + 1)

    def scores(self) -> npt.NDArray[np.float64]:
        gain = self.gain()
        return np.exp((gain - gain.max()) / self.tau)  # type: ignore[no-any-return]

    def should_stop(self, picked: int) -> str | None:
        return None

    def update(self, picked: int) -> None:
        column = herding_module.log_kernel_column(self.a, self.sigma2, np.array([picked]))
        self.penalty += np.exp(self.a @ column[:, 0])
        self.count += 1

    def summary(self) -> dict[str, object]:
        return {}


def run_greedy(
    objectives: list[Any], strengths: list[float], n: int, pre: list[int], k: int
) -> list[int]:
    blocked = np.zeros(n, dtype=bool)
    blocked[pre] = True
    return greedy(objectives, strengths, blocked, k).picks


@pytest.fixture
def small_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Groups of ~16 rows, so small inputs exercise many groups and their bounds."""
    monkeypatch.setattr(herding_module, "GROUP_SIZE", 16)


def lazy(
    x: npt.NDArray[np.floating], pre: list[int], budget: int
) -> herding_module.HerdingObjective:
    return herding_module.HerdingObjective(
        embeddings=x, preselected=np.array(pre, dtype=np.int64), k=30, budget=budget
    )


@pytest.mark.usefixtures("small_groups")
@pytest.mark.parametrize(
    ("sizes", "d", "k"), [([300, 200, 80, 20], 24, 150), ([900, 500, 100], 96, 400)]
)
def test_the_lazy_engine_picks_what_rescoring_every_row_picks(
    sizes: list[int], d: int, k: int
) -> None:
    x, _ = mixture(sizes, [0.3, 0.6, 0.2, 1.0][: len(sizes)], d=d, seed=len(sizes))
    pre = [0, 7, 400]
    engine = lazy(x, pre, k)
    assert engine.summary()["groups"] >= len(x) // 32  # type: ignore[operator]
    expected = run_greedy([ReferenceHerding(x, pre, k)], [1.0], len(x), pre, k)
    assert run_greedy([engine], [1.0], len(x), pre, k) == expected


@pytest.mark.usefixtures("small_groups")
def test_picks_skip_groups_out_of_the_kernels_reach() -> None:
    # ten tight, far-apart clusters: a pick's kernel is below e^-30 on the other nine
    x, _ = mixture([100] * 10, [0.05] * 10, d=32, seed=4)
    engine = lazy(x, [], 200)
    expected = run_greedy([ReferenceHerding(x, [], 200)], [1.0], len(x), [], 200)
    assert run_greedy([engine], [1.0], len(x), [], 200) == expected
    assert engine.summary()["kernel_pairs_per_pick"] < 0.3 * len(x)  # type: ignore[operator]


@pytest.mark.usefixtures("small_groups")
def test_with_static_factors_and_a_negative_strength_it_still_matches() -> None:
    x, labels = mixture([400, 300, 100], [0.3, 0.5, 0.2], d=40, seed=3)
    n, pre, k = len(x), [1, 2], 120
    weights = np.where(labels == 1, 0.2, 1.0) + np.linspace(0, 0.5, n)
    weights[::9] = 0.0  # rows a WEIGHTS factor rules out (product 0)
    for strengths in ([1.0, 1.0], [0.5, 2.0], [-1.0, 1.0]):
        factor = [WeightsObjective(values=weights, preselected=np.array(pre)) for _ in (0, 1)]
        mine = run_greedy([lazy(x, pre, k), factor[0]], strengths, n, pre, k)
        reference = run_greedy([ReferenceHerding(x, pre, k), factor[1]], strengths, n, pre, k)
        assert mine == reference, strengths
        assert not set(mine) & set(np.flatnonzero(weights == 0).tolist()) or strengths[1] < 0


class Fixed:
    """A static objective with given scores (a factor the loop multiplies in once)."""

    name = "FIXED"
    static = True

    def __init__(self, values: npt.NDArray[np.float64]) -> None:
        self.values = values

    def scores(self) -> npt.NDArray[np.float64]:
        return self.values.copy()

    def should_stop(self, picked: int) -> str | None:
        return None

    def update(self, picked: int) -> None:
        pass

    def summary(self) -> dict[str, object]:
        return {}


@pytest.mark.usefixtures("small_groups")
def test_when_every_free_factor_is_zero_it_takes_the_lowest_row_like_the_loop() -> None:
    x, _ = mixture([60, 40], [0.3, 0.3], d=16)
    factor = np.zeros(len(x))
    factor[:5] = 1.0
    picked = run_greedy([lazy(x, [], 8), Fixed(factor)], [1.0, 1.0], len(x), [], 8)
    reference = run_greedy([ReferenceHerding(x, [], 8), Fixed(factor)], [1.0, 1.0], len(x), [], 8)
    assert picked == reference
    assert sorted(picked[:5]) == [0, 1, 2, 3, 4] and picked[5:] == [5, 6, 7]


def test_partition_groups_every_row_once_within_its_radius() -> None:
    x, _ = mixture([500, 300, 200], [0.3, 0.5, 0.2], d=12)
    groups = partition(x, 16)
    assert sorted(groups.order.tolist()) == list(range(len(x)))
    assert groups.starts[0] == 0 and groups.starts[-1] == len(x)
    assert len(groups.radii) >= len(x) // 32
    for g in range(len(groups.radii)):
        members = groups.order[groups.starts[g] : groups.starts[g + 1]]
        assert np.all(np.diff(members) > 0)
        distances = np.linalg.norm(x[members] - groups.centres[g], axis=1)
        assert distances.max() <= groups.radii[g] + 1e-5


@pytest.mark.usefixtures("small_groups")
def test_a_sampled_density_sums_only_base_rows_within_reach(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(herding_module, "_BASE", 300)
    x, _ = mixture([900, 500, 100], [0.3, 0.5, 0.2], d=40, seed=5)
    rows = unit_projection(x)
    sigma2 = herding_module.bandwidth(rows, 30)
    a = herding_module.log_kernel_rows(rows, sigma2)
    every = herding_module.kernel_mean(a, sigma2)
    grouped = herding_module.kernel_mean(a, sigma2, partition(rows, 16))
    np.testing.assert_allclose(grouped, every, rtol=1e-5, atol=1e-13)
    assert picks(x, 60) == run_greedy([ReferenceHerding(x, [], 60)], [1.0], len(x), [], 60)
