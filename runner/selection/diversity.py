"""DIVERSITY: k-center greedy (farthest point) on L2-normalised embeddings.

The objective of a candidate is its Euclidean distance to the nearest selected sample. The
running minimum is kept as squared distances and updated per pick with one matrix-vector
product, ``d² = |x|² + |c|² - 2 x·c`` (clipped at 0), so a pick costs O(N·D) and no N-by-N
matrix is ever built. Without preselected samples the distance to the (empty) selection is
undefined: the first pick is then random, drawn from ``np.random.default_rng(seed)``.

Precision: float32 and the expansion resolve distances to about 1e-6 near 1 but only to about
3e-4 near 0 (cancellation), so near-duplicates are told apart only above ~1e-3. Selected rows
get exactly 0.
"""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

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


class _NumpyMinSquaredDistance:
    """The CPU backend: float32 BLAS matrix-vector products, byte-identical run to run."""

    name = "numpy"

    def __init__(self, x: npt.NDArray[np.float32]) -> None:
        self._x = x  # (N, D)
        self._sq = np.einsum("nd,nd->n", x, x)  # (N,) cached |x|²
        self._min = np.full(x.shape[0], np.inf, dtype=np.float32)  # (N,)
        self._buf = np.empty(x.shape[0], dtype=np.float32)  # (N,) scratch, reused per pick

    def add_rows(self, rows: npt.NDArray[np.int64]) -> None:
        n = self._x.shape[0]
        block = max(1, _BLOCK_BYTES // (4 * max(n, 1)))
        for start in range(0, rows.size, block):
            idx = rows[start : start + block]  # (b,)
            d2 = self._x @ self._x[idx].T  # (N, b)
            d2 *= -2.0
            d2 += self._sq[:, None]
            d2 += self._sq[idx][None, :]
            np.maximum(d2, 0.0, out=d2)
            np.minimum(self._min, d2.min(axis=1), out=self._min)
        self._min[rows] = 0.0  # exact, where the expansion leaves ~sqrt(eps32) = 3e-4

    def add_row(self, row: int) -> None:
        buf = self._buf
        np.matmul(self._x, self._x[row], out=buf)  # (N,) x·c
        buf *= -2.0
        buf += self._sq
        buf += self._sq[row]
        np.maximum(buf, 0.0, out=buf)
        np.minimum(self._min, buf, out=self._min)
        self._min[row] = 0.0

    def min_d2(self) -> npt.NDArray[np.float32]:
        return self._min

    def at(self, row: int) -> float:
        return float(self._min[row])


class _TorchMinSquaredDistance:
    """The accelerator backend: the same update on a torch device (CUDA when present)."""

    def __init__(self, x: npt.NDArray[np.float32]) -> None:
        import torch

        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.name = f"torch-{device.type}"
        self._torch = torch
        self._x = torch.from_numpy(x).to(device)  # (N, D) float32
        self._sq = (self._x * self._x).sum(dim=1)  # (N,)
        self._min = torch.full((x.shape[0],), float("inf"), device=device)  # (N,)

    def add_rows(self, rows: npt.NDArray[np.int64]) -> None:
        n = self._x.shape[0]
        block = max(1, _BLOCK_BYTES // (4 * max(n, 1)))
        for start in range(0, rows.size, block):
            idx = self._torch.from_numpy(rows[start : start + block]).to(self._x.device)
            d2 = self._sq[:, None] + self._sq[idx][None, :] - 2.0 * (self._x @ self._x[idx].T)
            self._min = self._torch.minimum(self._min, d2.clamp_(min=0.0).min(dim=1).values)
        self._min[self._torch.from_numpy(rows).to(self._x.device)] = 0.0

    def add_row(self, row: int) -> None:
        d2 = self._sq + self._sq[row] - 2.0 * (self._x @ self._x[row])  # (N,)
        self._torch.minimum(self._min, d2.clamp_(min=0.0), out=self._min)
        self._min[row] = 0.0

    def min_d2(self) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = self._min.cpu().numpy()
        return out

    def at(self, row: int) -> float:
        return float(self._min[row].item())


def _make_backend(x: npt.NDArray[np.float32], backend: Backend) -> _MinSquaredDistance:
    """Numpy unless asked for torch, or a CUDA device is present and the problem is large."""
    if backend == "torch":
        return _TorchMinSquaredDistance(x)
    if backend == "auto" and x.shape[0] * x.shape[1] > _CUDA_MIN_SIZE:
        import torch  # heavy: imported only for large problems

        if torch.cuda.is_available():
            return _TorchMinSquaredDistance(x)
    return _NumpyMinSquaredDistance(x)


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
            backend: ``"numpy"``, ``"torch"`` or ``"auto"`` (torch on CUDA for N·D > 1e7).
        """
        x = unit_float32(embeddings)  # (N, D)
        self._n = int(x.shape[0])
        self._dist = _make_backend(x, backend)
        self._has_selection = preselected.size > 0
        if self._has_selection:
            self._dist.add_rows(preselected)
        self._seed = seed
        self._n_preselected = int(preselected.size)
        self._min_distance = min_distance
        self._pick_distances: list[float | None] = []
        self._stop_distance: float | None = None

    @property
    def name(self) -> str:
        """``"DIVERSITY"``."""
        return "DIVERSITY"

    def scores(self) -> npt.NDArray[np.float64]:
        """Distance to the nearest selected row; uniform in [1, 2) before any selection.

        Returns:
            One score per row.  # (N,) float64
        """
        if not self._has_selection:
            # The argmax of i.i.d. uniforms is a uniform pick, fixed by the seed; other
            # objectives still weigh in on the first pick through the product.
            rng = np.random.default_rng(self._seed)
            first = rng.random(self._n)  # (N,) in [0, 1)
            first += 1.0
            return first
        return np.sqrt(self._dist.min_d2(), dtype=np.float64)

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
