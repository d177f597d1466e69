"""A small thread-safe LRU cache bounded by bytes, whose loads may run in the background.

The viewer keeps parsed run files (the sample index, ``embeddings.csv`` as a matrix, the 2-D
map) in memory so each is read once. Keys carry the source file's size and mtime, so a
rewritten file is simply a new entry. Parsing a 100k-row ``embeddings.csv`` takes tens of
seconds on a small machine, hence :meth:`BoundedCache.start` (load in a daemon thread) and a
``timeout`` on :meth:`BoundedCache.get` so a page can say "loading" instead of hanging.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
Loader = Callable[[], tuple[T, int]]  # returns (value, approximate size in bytes)


@dataclass
class _Pending(Generic[T]):
    """One load in flight; waiters block on ``done``."""

    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class BoundedCache(Generic[T]):
    """LRU over values whose sizes add up to at most ``max_bytes`` (the newest always stays).

    Args:
        max_bytes: Budget for all entries together.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[T, int]] = OrderedDict()
        self._pending: dict[Hashable, _Pending[T]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def peek(self, key: Hashable) -> T | None:
        """The cached value, without loading (and marking it recently used)."""
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return None
            self._items.move_to_end(key)
            return entry[0]

    def get(self, key: Hashable, loader: Loader[T], *, timeout: float | None = None) -> T | None:
        """The value for ``key``, loading it once even under concurrent requests.

        Args:
            key: Cache key (include the source's size and mtime).
            loader: Produces ``(value, size_bytes)``; runs in a daemon thread.
            timeout: Seconds to wait for a load in flight; ``None`` waits for it.

        Returns:
            The value, or ``None`` when the load is still running after ``timeout``.

        Raises:
            Exception: whatever the loader raised (the failure is not cached).
        """
        cached = self.peek(key)
        if cached is not None:
            return cached
        pending = self.start(key, loader)
        if not pending.done.wait(timeout):
            return None
        if pending.error is not None:
            raise pending.error
        return self.peek(key)

    def start(self, key: Hashable, loader: Loader[T]) -> _Pending[T]:
        """Begin loading ``key`` in the background unless it is cached or already loading."""
        with self._lock:
            pending = self._pending.get(key)
            if pending is not None:
                return pending
            pending = _Pending[T]()
            if key in self._items:
                pending.done.set()
                return pending
            self._pending[key] = pending
        thread = threading.Thread(target=self._load, args=(key, loader, pending), daemon=True)
        thread.start()
        return pending

    def _load(self, key: Hashable, loader: Loader[T], pending: _Pending[T]) -> None:
        try:
            value, size = loader()
        except BaseException as exc:
            pending.error = exc
            with self._lock:
                self._pending.pop(key, None)
            pending.done.set()
            return
        with self._lock:
            self._items[key] = (value, size)
            self._items.move_to_end(key)
            self._evict()
            self._pending.pop(key, None)
        pending.done.set()

    def _evict(self) -> None:
        total = sum(size for _, size in self._items.values())
        while total > self.max_bytes and len(self._items) > 1:
            _, (_, size) = self._items.popitem(last=False)
            total -= size
