"""k-center greedy on a torch device (CUDA when present): one update per pick, on the device.

Used by DIVERSITY for large problems when a CUDA device is present (and on request). The
running minimum squared distance, the per-pick matrix-vector update and the argmax of the
combined score all stay on the device; only the picked row's index crosses to the host.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_BLOCK_BYTES = 64 * 2**20  # working memory of one (N, b) block when seeding from preselected


class TorchKCenter:
    """Running min squared distance of every row to a growing set of rows, on a device."""

    def __init__(self, x: npt.NDArray[np.float32]) -> None:
        """Copy the rows to the device (CUDA when present, else the CPU).  # x: (N, D)"""
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
        """Add centers and fold them into every row, in blocks.  # rows: (M,)"""
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
        """Add one center: one matrix-vector product on the device."""
        d2 = self._sq + self._sq[row] - 2.0 * (self._x @ self._x[row])  # (N,)
        self._torch.minimum(self._min, d2.clamp_(min=0.0), out=self._min)
        self._min[row] = 0.0
        self._dead[row] = True

    def min_d2(self) -> npt.NDArray[np.float32]:
        """Squared distance of every row to the selection, copied to the host.  # (N,)"""
        out: npt.NDArray[np.float32] = self._min.cpu().numpy()
        return out

    def at(self, row: int) -> float:
        """Squared distance of one row to the selection."""
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
