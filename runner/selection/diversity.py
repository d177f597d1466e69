"""DIVERSITY: k-center greedy (farthest point) on L2-normalised embeddings.

The objective of a candidate is its Euclidean distance to the nearest selected sample. The
running minimum is kept as squared distances, ``d² = |x|² + |c|² - 2 x·c`` (clipped at 0), and
no N-by-N matrix is ever built. On the CPU the lazy, blocked engine of
:mod:`runner.selection.kcenter` does the work (exact picks, a fraction of the distances); with
a CUDA device and a large problem, one matrix-vector product per pick on the device. Without
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

from runner.selection.kcenter import LazyKCenter
from runner.selection.objective import ObjectiveContext

Backend = Literal["auto", "numpy", "torch"]

_CUDA_MIN_SIZE = 10_000_000  # N·D above which a CUDA device, if present, does the updates
_BLOCK_BYTES = 64 * 2**20  # working memory of one (N, b) block when seeding from preselected
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


class _TorchMinSquaredDistance:
    """The accelerator backend: one update per pick, kept on the device (CUDA when present).

    The argmax of the combined score runs on the device too; only the picked row's index
    crosses to the host.
    """

    def __init__(self, x: npt.NDArray[np.float32]) -> None:
        import torch

        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.name = f"torch-{device.type}"
        self._torch = torch
        self._x = torch.from_numpy(x).to(device)  # (N, D) float32
        self._sq = (self._x * self._x).sum(dim=1)  # (N,)
        self._min = torch.full((x.shape[0],), float("inf"), device=device)  # (N,)
        self._dead = torch.zeros(x.shape[0], dtype=torch.bool, device=device)  # (N,)
        self._factor: tuple[int, object] | None = None  # (id of the host array, device copy)

    def add_rows(self, rows: npt.NDArray[np.int64]) -> None:
        n = self._x.shape[0]
        block = max(1, _BLOCK_BYTES // (4 * max(n, 1)))
        for start in range(0, rows.size, block):
            idx = self._torch.from_numpy(rows[start : start + block]).to(self._x.device)
            d2 = self._sq[:, None] + self._sq[idx][None, :] - 2.0 * (self._x @ self._x[idx].T)
            self._min = self._torch.minimum(self._min, d2.clamp_(min=0.0).min(dim=1).values)
        idx = self._torch.from_numpy(rows).to(self._x.device)
        self._min[idx] = 0.0
        self._dead[idx] = True

    def add_row(self, row: int) -> None:
        d2 = self._sq + self._sq[row] - 2.0 * (self._x @ self._x[row])  # (N,)
        self._torch.minimum(self._min, d2.clamp_(min=0.0), out=self._min)
        self._min[row] = 0.0
        self._dead[row] = True

    def min_d2(self) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = self._min.cpu().numpy()
        return out

    def at(self, row: int) -> float:
        return float(self._min[row].item())

    def argmax(self, *, factor: npt.NDArray[np.float64] | None, power: float) -> tuple[int, float]:
        torch = self._torch
        keys = torch.sqrt(self._min.double())  # (N,) float64 on the device
        if power != 1.0:
            keys = keys.pow(power)
        if factor is not None:
            if self._factor is None or self._factor[0] != id(factor):
                self._factor = (id(factor), torch.from_numpy(factor).to(self._x.device))
            keys = keys * self._factor[1]
        keys = keys.masked_fill(self._dead, float("-inf"))
        best = int(torch.argmax(keys).item())  # first maximum: ties go to the lowest row
        return best, float(keys[best].item())


def _cuda_available() -> bool:
    """Whether torch sees a CUDA device; torch is imported only if a driver is present."""
    if "torch" not in sys.modules and not os.path.exists("/proc/driver/nvidia/version"):
        return False  # no NVIDIA driver: skip importing torch (seconds) just to learn that
    import torch

    return bool(torch.cuda.is_available())


def _make_backend(x: npt.NDArray[np.float32], backend: Backend) -> _MinSquaredDistance:
    """The lazy CPU engine unless asked for torch, or CUDA is present and the problem large."""
    if backend == "torch":
        return _TorchMinSquaredDistance(x)
    if backend == "auto" and x.shape[0] * x.shape[1] > _CUDA_MIN_SIZE and _cuda_available():
        return _TorchMinSquaredDistance(x)
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
        min_distance=ctx.entry.strategy.stopping_condition_minimum_distance,
    )
