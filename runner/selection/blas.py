"""Run small matrix products on one BLAS thread.

OpenBLAS splits even small products over all its threads; waking them costs more than the
product (on 2 busy cores a 64 x 64 x 256 product took 0.85 ms on 2 threads, 0.05 ms on one).
The lazy k-center engine does thousands of such products, so it runs them single-threaded and
leaves the large ones (block updates) to every thread. Uses ``threadpoolctl`` when it is
installed; without it this is a no-op (same results, slower on busy machines).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

SMALL = 1 << 22  # multiply-adds below which a product runs on one thread


@cache
def _blas_libraries() -> tuple[Any, ...]:
    """threadpoolctl's controllers of the loaded BLAS libraries (empty without it)."""
    try:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]
    except ImportError:
        return ()
    return tuple(c for c in ThreadpoolController().lib_controllers if c.user_api == "blas")


@contextmanager
def one_thread(work: int) -> Iterator[None]:
    """Limit BLAS to one thread while the block runs, if ``work`` (multiply-adds) is small.

    Args:
        work: Multiply-adds of the product about to run.
    """
    libraries = _blas_libraries() if work < SMALL else ()
    previous = [lib.num_threads for lib in libraries]
    for lib in libraries:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(libraries, previous, strict=True):
            lib.set_num_threads(n)
