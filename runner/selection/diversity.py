"""DIVERSITY: k-center greedy (farthest point) on L2-normalised embeddings.

The objective of a candidate is its Euclidean distance to the nearest selected sample. The
running minimum is kept as squared distances, ``d² = |x|² + |c|² - 2 x·c`` (clipped at 0), and
no N-by-N matrix is ever built. On the CPU the lazy, blocked engine of
:mod:`runner.selection.kcenter` does the work (exact picks, a fraction of the distances); with
a CUDA device and a large problem, its torch port (:mod:`runner.selection.torch_kcenter`)
on the device. Without
preselected samples the distance to the (empty) selection is undefined: the first pick is then
random, drawn from ``np.random.default_rng(seed)``.

Precision: float32 and the expansion resolve distances to about 1e-6 near 1 but only to about
3e-4 near 0 (cancellation), so near-duplicates are told apart only above ~1e-3. Selected rows
get exactly 0.
"""

from __future__ import annotations

import os
import sys
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from runner.selection.checks import active_min_distance
from runner.selection.kcenter import LazyKCenter
from runner.selection.objective import ObjectiveContext
from runner.selection.torch_kcenter import TorchKCenter

Backend = Literal["auto", "numpy", "torch"]

_CUDA_MIN_SIZE = 10_000_000  # N·D above which a CUDA device, if present, does the updates
_NORM_TOLERANCE = 1e-4  # |x|² within this of 1 counts as already normalised (no copy)


def unit_float32(embeddings: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """Return the embeddings as C-contiguous float32 rows of unit L2 norm.

    The input is returned as is when it already is that (no copy: 1M x 512 is 2 GB).
    All-zero rows stay zero.

    Args:
        embeddings: One row per sample.  # (N, D)

    Returns:
        The normalised embeddings.  # (N, D) float32
    """
    x = np.ascontiguousarray(embeddings, dtype=np.float32)  # (N, D)
    sq = np.einsum("nd,nd->n", x, x)  # (N,)
    if x.shape[0] == 0 or float(np.max(np.abs(sq - 1.0))) <= _NORM_TOLERANCE:
        return x
    norms = np.sqrt(sq, dtype=np.float32)[:, None]  # (N, 1)
    unit: npt.NDArray[np.float32] = x / np.maximum(norms, np.float32(1e-12))
    return unit


class _MinSquaredDistance(Protocol):
    """Running min squared distance of every row to a growing set of rows."""

    name: str

    def add_rows(self, rows: npt.NDArray[np.int64]) -> None: ...

    def add_row(self, row: int) -> None: ...

    def min_d2(self) -> npt.NDArray[np.float32]: ...

    def at(self, row: int) -> float: ...

    def argmax(
        self, *, factor: npt.NDArray[np.float64] | None, power: float
    ) -> tuple[int, float]: ...


def _cuda_available() -> bool:
    """Whether torch sees a CUDA device; torch is imported only if a driver is present."""
    if "torch" not in sys.modules and not os.path.exists("/proc/driver/nvidia/version"):
        return False  # no NVIDIA driver: skip importing torch (seconds) just to learn that
    import torch

    return bool(torch.cuda.is_available())


def _make_backend(x: npt.NDArray[np.float32], backend: Backend) -> _MinSquaredDistance:
    """The lazy CPU engine unless asked for torch, or CUDA is present and the problem large."""
    if backend == "torch":
        return TorchKCenter(x)
    if backend == "auto" and x.shape[0] * x.shape[1] > _CUDA_MIN_SIZE and _cuda_available():
        return TorchKCenter(x)
    return LazyKCenter(x)


class DiversityObjective:
    """Distance of each candidate to the nearest selected sample (k-center greedy)."""

    def __init__(
        self,
        *,
        embeddings: npt.NDArray[np.floating],
        preselected: npt.NDArray[np.int64],
        seed: int,
        min_distance: float | None = None,
        backend: Backend = "auto",
    ) -> None:
        """Set up the running distances.

        Args:
            embeddings: Embeddings of all rows; normalised here if they are not.  # (N, D)
            preselected: Rows already selected; distances start from them.  # (M,)
            seed: Seeds the random first pick when ``preselected`` is empty.
            min_distance: ``stopping_condition_minimum_distance``, or ``None``.
            backend: ``"numpy"`` (the lazy CPU engine), ``"torch"`` or ``"auto"`` (torch on
                CUDA for N·D > 1e7, else numpy).
        """
        x = unit_float32(embeddings)  # (N, D)
        self._n = int(x.shape[0])
        self._dist = _make_backend(x, backend)
        self._has_selection = preselected.size > 0
        if self._has_selection:
            self._dist.add_rows(preselected)
        self._seed = seed
        self._n_selected = int(preselected.size)
        self._n_preselected = int(preselected.size)
        self._min_distance = min_distance
        self._pick_distances: list[float | None] = []
        self._stop_distance: float | None = None

    @property
    def name(self) -> str:
        """``"DIVERSITY"``."""
        return "DIVERSITY"

    @property
    def static(self) -> bool:
        """``False``: distances shrink with every pick."""
        return False

    def _first_scores(self) -> npt.NDArray[np.float64]:
        """Uniform in [1, 2), fixed by the seed: the argmax is a uniform seeded pick."""
        rng = np.random.default_rng(self._seed)
        first = rng.random(self._n)  # (N,) in [0, 1)
        first += 1.0
        return first

    def scores(self) -> npt.NDArray[np.float64]:
        """Distance to the nearest selected row; uniform in [1, 2) before any selection.

        Before any selection, other objectives still weigh in on the first pick through the
        product.

        Returns:
            One score per row.  # (N,) float64
        """
        if not self._has_selection:
            return self._first_scores()
        return np.sqrt(self._dist.min_d2(), dtype=np.float64)

    def argmax(
        self,
        *,
        factor: npt.NDArray[np.float64] | None,
        strength: float,
        blocked: npt.NDArray[np.bool_],
    ) -> tuple[int, float] | None:
        """The best unblocked row of ``factor · distance ** strength`` without scoring all.

        Args:
            factor: Fixed product of the other (static) objectives, or ``None``.  # (N,)
            strength: This objective's exponent; only ``> 0`` is supported.
            blocked: Rows selected so far (preselected included).  # (N,)

        Returns:
            The row and its combined score, or ``None`` for ``strength <= 0`` or when
            ``blocked`` holds rows that are not selected (the loop then scores every row).
        """
        if strength <= 0 or int(np.count_nonzero(blocked)) != self._n_selected:
            return None
        if not self._has_selection:
            keys = self._first_scores()
            if strength != 1.0:
                np.power(keys, strength, out=keys)
            if factor is not None:
                keys *= factor
            keys[blocked] = -np.inf
            best = int(np.argmax(keys))
            return best, float(keys[best])
        return self._dist.argmax(factor=factor, power=strength)

    def _distance(self, row: int) -> float | None:
        return float(np.sqrt(self._dist.at(row))) if self._has_selection else None

    def should_stop(self, picked: int) -> str | None:
        """Stop when ``picked`` is strictly closer than the minimum distance to the selection.

        Args:
            picked: The row the loop is about to add.

        Returns:
            The stop reason, or ``None``.
        """
        distance = self._distance(picked)
        if self._min_distance is None or distance is None or distance >= self._min_distance:
            return None
        self._stop_distance = distance
        return f"{self.name}: minimum distance {self._min_distance:g} reached"

    def update(self, picked: int) -> None:
        """Record the pick's distance and fold it into the running minimum.

        Args:
            picked: The row just added.
        """
        self._pick_distances.append(self._distance(picked))
        self._dist.add_row(picked)
        self._has_selection = True
        self._n_selected += 1

    def summary(self) -> dict[str, object]:
        """Backend, how the selection started, each pick's distance and the final minimum.

        ``final_min_distance`` is the minimum pairwise distance among the picks (and from
        the picks to the preselected rows): in greedy order each pair is counted exactly once,
        in the later pick's distance.
        """
        finite = [d for d in self._pick_distances if d is not None]
        return {
            "backend": self._dist.name,
            "start": (
                f"{self._n_preselected} preselected"
                if self._n_preselected
                else f"random first pick (seed {self._seed})"
            ),
            "pick_min_distances": self._pick_distances,
            "final_min_distance": min(finite) if finite else None,
            "stop_distance": self._stop_distance,
        }


def build_diversity(ctx: ObjectiveContext) -> DiversityObjective:
    """Build the DIVERSITY objective of one strategy entry.

    Args:
        ctx: The rows, preselected rows, seed and the validated entry.

    Returns:
        The objective.
    """
    return DiversityObjective(
        embeddings=ctx.embeddings,
        preselected=ctx.preselected,
        seed=ctx.seed,
        min_distance=active_min_distance(ctx.entry.strategy),
    )
