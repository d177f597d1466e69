"""Exact k-center greedy on a torch device (CUDA when present) with lazy, blocked updates.

The port of :mod:`runner.selection.kcenter` for a GPU. Textbook farthest-point selection
updates every row after every pick with one matrix-vector product: memory bound, 0.48 ms per
pick over 1M x 512 fp16 on an H100 (48 s for 100k picks, see
``/work/shared/design/performance.md``). This engine returns the same picks with:

* **Blocked updates.** New centers stay pending and are folded into the running minimum of
  every row ``block`` at a time, as one matrix-matrix product (compute bound on tensor cores).
* **Lazy evaluation.** A row's stored minimum is an upper bound of its true distance to the
  selection (distances only shrink). After each block update the rows are sorted by bound on
  the device; to pick, rows are taken in that order and made exact against the pending
  centers until the best exact key exceeds the next bound, which no later row can beat.

The numpy engine's third idea (tiers of dormant rows) is left out: with the matrix product on
the device a full block update costs about as much as one re-sort, and a GPU gains nothing
from skipping rows it reads at full bandwidth anyway.

Keys are ``factor · d^power`` in float64, ties go to the lowest row, distances are
``|x|² + |c|² - 2 x·c`` in float32 clipped at 0: the numpy engine's arithmetic, so both give
the same picks up to the summation order of the dot products (rounding ~1e-7).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # torch is imported when an engine is built (start-up time)
    import torch


_WORK_BYTES = 256 * 2**20  # largest (rows, centers) float32 block of one product
_CHUNK = 256  # rows made exact at once while scanning for the best key
_POOL_CAP = 4096  # exact rows kept between updates; more triggers a block update


class TorchKCenter:
    """Running squared distance of every row to a growing set of centers, on a device."""

    def __init__(
        self, x: npt.NDArray[np.float32], *, block: int = 256, device: str | None = None
    ) -> None:
        """Copy the rows to the device (CUDA when present, else the CPU).

        Args:
            x: The rows, float32.  # (N, D)
            block: Pending centers folded into every row at once.
            device: A torch device name; default CUDA when available, else the CPU.
        """
        import torch

        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.name = f"torch-{dev.type}"
        self._torch = torch
        self._x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(dev)  # (N, D)
        self._n = int(x.shape[0])
        self._sq = torch.einsum("nd,nd->n", self._x, self._x)  # (N,)
        self._min = torch.full((self._n,), float("inf"), device=dev)  # (N,) bound of min d²
        self._dead = torch.zeros(self._n, dtype=torch.bool, device=dev)  # (N,) the centers
        self._centers: list[int] = []
        self._applied = 0  # centers folded into every row
        self._block = block
        self._params: tuple[int, float] | None = None  # (id of factor, power) of the order
        self._factor: torch.Tensor | None = None  # device copy of the factor
        self._power = 1.0
        self._order = torch.empty(0, dtype=torch.int64, device=dev)  # rows by bound, best first
        self._bounds = np.empty(0, dtype=np.float64)  # their key bounds, on the host
        self._pos = 0  # next position of _order to scan
        self._pool = torch.empty(0, dtype=torch.int64, device=dev)  # scanned rows
        self._pool_keys = torch.empty(0, dtype=torch.float64, device=dev)
        self._pool_t = 0  # centers folded into the pool rows
        self.stats = {"updates": 0, "scanned": 0}

    # --- distances -----------------------------------------------------------------------

    def _min_d2(self, rows: slice | torch.Tensor, centers: list[int]) -> torch.Tensor:
        """Min over ``centers`` of the squared distance of each of ``rows`` (a slice or
        an index tensor).  # (R,)"""
        torch = self._torch
        c_rows = torch.tensor(centers, dtype=torch.int64, device=self._x.device)  # (P,)
        c, csq = self._x[c_rows], self._sq[c_rows]  # (P, D), (P,)
        xr, sq = self._x[rows], self._sq[rows]  # (R, D), (R,)
        g = (xr @ c[0])[:, None] if len(centers) == 1 else xr @ c.T  # (R, P)
        g = g.mul_(-2.0).add_(sq[:, None]).add_(csq[None, :])
        return g.min(dim=1).values.clamp_(min=0.0)

    def _fold_pending(self) -> None:
        """Fold every pending center into every row (row blocks of bounded memory)."""
        pending = self._centers[self._applied :]
        if not pending:
            return
        self.stats["updates"] += 1
        for first in range(0, len(pending), 4096):
            part = pending[first : first + 4096]
            step = max(1, _WORK_BYTES // (4 * len(part)))
            for start in range(0, self._n, step):
                rows = slice(start, min(self._n, start + step))
                self._torch.minimum(self._min[rows], self._min_d2(rows, part), out=self._min[rows])
        self._min[self._dead] = 0.0
        self._applied = len(self._centers)

    def add_rows(self, rows: npt.NDArray[np.int64]) -> None:
        """Add centers and fold them into every row at once (the datapool).  # rows: (M,)"""
        for row in rows.tolist():
            self._add(int(row))
        self._fold_pending()
        self._params = None

    def add_row(self, row: int) -> None:
        """Add one center; it is folded in lazily."""
        self._add(row)

    def _add(self, row: int) -> None:
        self._centers.append(row)
        self._dead[row] = True
        self._min[row] = 0.0

    def min_d2(self) -> npt.NDArray[np.float32]:
        """Exact squared distance of every row to the selection, on the host.  # (N,)"""
        self._fold_pending()
        self._params = None
        out: npt.NDArray[np.float32] = self._min.cpu().numpy()
        return out

    def at(self, row: int) -> float:
        """Exact squared distance of one row to the selection."""
        pending = self._centers[self._applied :]
        value = self._min[row : row + 1]
        if pending:
            value = self._torch.minimum(value, self._min_d2(slice(row, row + 1), pending))
        return 0.0 if bool(self._dead[row]) else float(value.item())

    # --- lazy argmax ---------------------------------------------------------------------

    def _keys(self, d2: torch.Tensor, rows: slice | torch.Tensor) -> torch.Tensor:
        """``factor · d^power`` in float64 from squared distances; -inf for centers."""
        keys = self._torch.sqrt(d2.double())
        if self._power != 1.0:
            keys = keys.pow(self._power)
        if self._factor is not None:
            keys = keys * self._factor[rows]
        return keys.masked_fill(self._dead[rows], float("-inf"))

    def argmax(self, *, factor: npt.NDArray[np.float64] | None, power: float) -> tuple[int, float]:
        """The alive row with the largest ``factor · d^power`` and its key (ties: the lowest
        row), as :meth:`runner.selection.kcenter.LazyKCenter.argmax`.

        Raises:
            ValueError: No center yet, or every row is a center.
        """
        new_key = self._params != (id(factor), power)  # another key: sort the rows again
        if not self._centers or bool(self._dead.all()):
            raise ValueError("argmax needs at least one center and one other row")
        if new_key:
            self._params, self._power = (id(factor), power), power
            self._factor = (
                None if factor is None else self._torch.from_numpy(factor).to(self._x.device)
            )
            self._update()
        elif len(self._centers) - self._applied >= self._block or self._pool.numel() > _POOL_CAP:
            self._update()
        return self._scan()

    def _update(self) -> None:
        """Fold the pending centers into every row and sort the rows by key bound."""
        torch = self._torch
        self._fold_pending()
        everything = torch.arange(self._n, device=self._x.device)
        keys = self._keys(self._min, everything)
        self._order = torch.argsort(-keys, stable=True)
        self._bounds = keys[self._order].cpu().numpy()
        self._pos = 0
        self._pool = self._order[:0]
        self._pool_keys = torch.empty(0, dtype=torch.float64, device=self._x.device)
        self._pool_t = self._applied

    def _exact(self, rows: torch.Tensor, first: int) -> torch.Tensor:
        """Fold centers ``first:`` into ``rows``; their exact keys.  # (R,)"""
        pending = self._centers[first:]
        if pending:
            new = self._torch.minimum(self._min[rows], self._min_d2(rows, pending))
            self._min[rows] = new.masked_fill(self._dead[rows], 0.0)
        self.stats["scanned"] += int(rows.numel())
        return self._keys(self._min[rows], rows)

    def _scan(self) -> tuple[int, float]:
        """The best alive row: scan rows by bound until none left can beat the best."""
        torch = self._torch
        t = len(self._centers)
        if self._pool.numel() and self._pool_t < t:
            self._pool_keys = self._exact(self._pool, self._pool_t)
        self._pool_t = t
        alive = self._pool_keys > float("-inf")
        self._pool, self._pool_keys = self._pool[alive], self._pool_keys[alive]
        best = float(self._pool_keys.max().item()) if self._pool.numel() else -np.inf
        while self._pos < self._n and self._bounds[self._pos] >= best:
            rows = self._order[self._pos : self._pos + _CHUNK]
            self._pos += int(rows.numel())
            keys = self._exact(rows, self._applied)
            keep = keys > float("-inf")
            self._pool = torch.cat([self._pool, rows[keep]])
            self._pool_keys = torch.cat([self._pool_keys, keys[keep]])
            if self._pool.numel():
                best = max(best, float(self._pool_keys.max().item()))
        ties = self._pool_keys == best
        row = int(self._pool[ties].min().item())
        drop = self._pool == row
        self._pool, self._pool_keys = self._pool[~drop], self._pool_keys[~drop]
        return row, best
