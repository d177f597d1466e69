"""The embedding cache lock serialises processes: no lost update, no torn entry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from runner.embedding.cache import CacheTable, load_cache, save_cache
from runner.embedding.cache_lock import cache_lock
from tests.conftest import REPO

# Each process adds its own rows to the shared entry, read-modify-write, many times: without
# the lock, two processes read the same table and the second write drops the first's rows.
WRITER = """
import sys
from pathlib import Path
import numpy as np
from runner.embedding.cache import load_cache, save_cache
from runner.embedding.cache_lock import cache_lock
entry, lock, me = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
for i in range(40):
    with cache_lock(lock):
        table = load_cache(entry, dim=4)
        row = np.full((1, 4), me * 1000 + i, dtype=np.float32)
        save_cache(entry, table.merged([f"{me:02d}-{i:03d}"], row))
"""


def test_concurrent_writers_lose_no_rows_and_leave_no_torn_file(tmp_path: Path) -> None:
    entry, lock = tmp_path / "cache" / "entry.npz", tmp_path / "cache" / "entry.lock"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(entry), str(lock), str(me)],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me in range(3)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
    table = load_cache(entry, dim=4)
    assert list(table.hashes) == sorted(f"{me:02d}-{i:03d}" for me in range(3) for i in range(40))
    assert table.embeddings[table.lookup(["02-039"])[0], 0] == 2039
    assert sorted(p.name for p in entry.parent.iterdir()) == ["entry.lock", "entry.npz"]


def test_lock_is_reentrant_across_sequential_blocks_and_creates_its_folder(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "new" / "x.lock"
    for _ in range(2):  # released at the end of each block
        with cache_lock(lock):
            save_cache(tmp_path / "new" / "x.npz", CacheTable.empty(2))
    assert lock.is_file()
    assert load_cache(tmp_path / "new" / "x.npz", dim=2).embeddings.shape == (0, 2)
    assert np.load(tmp_path / "new" / "x.npz")["hashes"].size == 0
