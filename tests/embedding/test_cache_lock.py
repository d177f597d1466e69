"""The embedding cache lock serialises processes: each content is embedded once, no torn shard."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from runner.embedding.cache import EmbeddingCache, ShardSink
from runner.embedding.cache_lock import cache_lock
from tests.conftest import REPO

# Every process walks the same 40 groups of 3 contents and, under the lock, "embeds" (writes a
# shard for) whatever of the group the cache lacks, as embed() does for a sweep's jobs: with
# the lock the first process computes each group and the others find it cached; without it
# they all read an empty cache and write the group again.
WRITER = """
import hashlib, sys
from pathlib import Path
import numpy as np
from runner.embedding.cache import EmbeddingCache, ShardSink
from runner.embedding.cache_lock import cache_lock
folder, lock, me = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
for group in range(40):
    hashes = [hashlib.sha256(f"{group}-{j}".encode()).hexdigest() for j in range(3)]
    with cache_lock(lock):
        cache = EmbeddingCache.open(folder, dim=4)
        todo = [h for h, at in zip(hashes, cache.lookup(hashes)) if at < 0]
        sink = ShardSink(folder, writer=f"{me}-{group:03d}")
        sink.add(todo, np.full((len(todo), 4), group, dtype=np.float32))
        sink.close()
"""


def test_concurrent_jobs_embed_each_content_once_and_leave_no_torn_shard(tmp_path: Path) -> None:
    folder, lock = tmp_path / "cache" / "model", tmp_path / "cache" / "model.lock"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(folder), str(lock), f"w{me}"],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me in range(3)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
    written = sum(len(np.load(p)) for p in folder.glob("shard-*.hashes.npy"))
    assert written == 120  # each of the 120 contents once, whichever process computed it
    cache = EmbeddingCache.open(folder, dim=4)
    assert len(cache.hashes) == 120
    assert not [p for p in folder.iterdir() if not p.name.startswith("shard-")]  # no temp files


def test_lock_is_released_after_each_block_and_creates_its_folder(tmp_path: Path) -> None:
    lock = tmp_path / "new" / "x.lock"
    for n in range(2):  # a second block would wait forever if the first kept the lock
        with cache_lock(lock):
            sink = ShardSink(tmp_path / "new" / "x", writer=f"w{n}")
            sink.add([f"{n:064x}"], np.ones((1, 2), dtype=np.float32))
            sink.close()
    assert lock.is_file()
    assert EmbeddingCache.open(tmp_path / "new" / "x", dim=2).rows[0].shape == (1, 2)
