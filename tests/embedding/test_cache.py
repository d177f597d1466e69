"""The sharded embedding cache: commits, torn shards, gathering, and resuming after a kill."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from runner.embedding.cache import EmbeddingCache, ShardSink, digests
from tests.conftest import REPO, write_images


def _hash(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def _rows(n: int, dim: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def test_sink_commits_a_shard_per_filled_buffer_and_the_rest_on_close(tmp_path: Path) -> None:
    sink = ShardSink(tmp_path, writer="w", rows_per_shard=3)
    rows = _rows(7)
    for i in range(7):
        sink.add([_hash(i)], rows[i : i + 1])
        committed = len(list(tmp_path.glob("*.hashes.npy")))
        assert committed == (i + 1) // 3  # each full buffer is on disk at once
    sink.close()
    assert len(list(tmp_path.glob("*.hashes.npy"))) == 3 and sink.written == 7
    cache = EmbeddingCache.open(tmp_path, dim=4)
    order = [6, 0, 3]
    gathered = cache.gather([_hash(i) for i in order])
    assert gathered.dtype == np.float16 and not gathered.flags.writeable
    np.testing.assert_array_equal(gathered, rows[order].astype(np.float16))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # gather file unlinked


def test_rows_without_their_hashes_file_are_not_a_shard(tmp_path: Path) -> None:
    sink = ShardSink(tmp_path, writer="w", rows_per_shard=2)
    sink.add([_hash(0), _hash(1)], _rows(2))
    # A process killed between the two renames leaves a rows file alone: not committed.
    np.save(tmp_path / "shard-x-000000.rows.npy", _rows(2).astype(np.float16))
    cache = EmbeddingCache.open(tmp_path, dim=4)
    assert cache.lookup([_hash(0), _hash(1), _hash(2)]).tolist()[2] == -1
    assert len(cache.hashes) == 2


def test_damaged_or_misshapen_shards_are_skipped(tmp_path: Path) -> None:
    good = ShardSink(tmp_path, writer="a")
    good.add([_hash(0)], _rows(1))
    good.close()
    (tmp_path / "shard-b-000000.rows.npy").write_bytes(b"not numpy")
    (tmp_path / "shard-b-000000.hashes.npy").write_bytes(b"not numpy")
    np.save(tmp_path / "shard-c-000000.rows.npy", _rows(1, dim=3).astype(np.float16))
    np.save(tmp_path / "shard-c-000000.hashes.npy", digests([_hash(1)]))
    cache = EmbeddingCache.open(tmp_path, dim=4)
    assert (cache.lookup([_hash(0), _hash(1)]) >= 0).tolist() == [True, False]


def test_the_same_content_in_two_shards_is_served_once(tmp_path: Path) -> None:
    for writer, seed in (("a", 1), ("b", 2)):
        sink = ShardSink(tmp_path, writer=writer)
        sink.add([_hash(0)], _rows(1, seed=seed))
        sink.close()
    cache = EmbeddingCache.open(tmp_path, dim=4)
    assert len(cache.hashes) == 1
    np.testing.assert_array_equal(cache.gather([_hash(0)]), _rows(1, seed=1).astype(np.float16))
    with pytest.raises(KeyError):
        cache.gather([_hash(5)])


_EMBED = """
import hashlib, sys
from pathlib import Path
import runner.embedding.cache as cache
from runner.config import LightlyConfig
from runner.datasource.sample import Sample, SampleKind
from runner.embedding import embed as embed_module

cache.SHARD_ROWS = 2  # commit every two rows, so a kill has something to keep
folder, cache_dir = Path(sys.argv[1]), Path(sys.argv[2])
samples, hashes = [], {}
for path in sorted(folder.iterdir()):
    stat = path.stat()
    samples.append(Sample(path.name, path, SampleKind.IMAGE, stat.st_size, stat.st_mtime_ns))
    hashes[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
real = embed_module._embed_missing
def counted(todo, *args, **kwargs):
    print("EMBEDDING", len(todo), flush=True)
    return real(todo, *args, **kwargs)
embed_module._embed_missing = counted
cfg = LightlyConfig(seed=1)
cfg.model.name, cfg.model.pretrained = "resnet-18", False
cfg.loader.num_workers, cfg.loader.batch_size = 0, 1
cfg.collate.input_size, cfg.trainer.gpus = 32, 0
result = embed_module.embed(samples, content_hashes=hashes, cfg=cfg, checkpoint="",
                            normalize=True, cache_dir=cache_dir)
print("HITS", result.cache_hits, flush=True)
"""


@pytest.mark.slow
def test_a_killed_embedding_keeps_its_shards_and_the_rerun_embeds_only_the_rest(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "images"
    write_images(folder, [f"img_{i:03d}.png" for i in range(200)])
    cache_dir = tmp_path / "cache"
    args = [sys.executable, "-c", _EMBED, str(folder), str(cache_dir)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not len(list(cache_dir.rglob("*.hashes.npy"))) >= 3:  # some shards committed
        assert first.poll() is None and time.monotonic() < deadline, "no shard before the end"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    (shards,) = [p for p in cache_dir.iterdir() if p.is_dir()]  # beside it: the model's lock
    kept = len(EmbeddingCache.open(shards, dim=512).hashes)
    assert 6 <= kept < 200
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, check=True)
    assert f"EMBEDDING {200 - kept}" in again.stdout
    assert f"HITS {kept}" in again.stdout
