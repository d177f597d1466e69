"""Benchmark: host memory while embedding stays flat in the number of images.

For each N: a folder of N small JPEGs (96x96 crops of real photos), then, in a fresh process,
``runner.embedding.embed.embed`` over all of them with a small model (ResNet-18, random
weights, 32 px, batch 256, decoding in the main process) and an empty cache. A thread samples
the process's RSS every 50 ms; reported are the RSS before embedding, the peak while the model
runs and rows stream into the cache (up to the moment the rows are gathered), and the peak
including the gathered result (N x 512 float16, which selection needs). Results replace the
``## Host memory while embedding`` section of ``docs/benchmarks.md``.

Usage: ``python benchmarks/embed_rss.py [--sizes 10000 50000]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from docs_section import replace_section  # benchmarks/ is on sys.path
from PIL import Image

SECTION = "## Host memory while embedding"

_CHILD = r"""
import hashlib, json, sys, threading, time
from pathlib import Path
from runner.config import LightlyConfig
from runner.datasource.sample import Sample, SampleKind
from runner.embedding import cache as cache_module, embed as embed_module

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

folder, cache_dir = Path(sys.argv[1]), Path(sys.argv[2])
samples, hashes = [], {}
for path in sorted(folder.rglob("*.jpg")):
    stat = path.stat()
    key = path.relative_to(folder).as_posix()
    samples.append(Sample(key, path, SampleKind.IMAGE, stat.st_size, stat.st_mtime_ns))
    hashes[key] = hashlib.sha256(path.read_bytes()).hexdigest()
cfg = LightlyConfig(seed=1)
cfg.model.name, cfg.model.pretrained = "resnet-18", False
cfg.loader.num_workers, cfg.loader.batch_size = 0, 256
cfg.collate.input_size, cfg.trainer.gpus = 32, 0
import lightning  # loaded before the baseline, so the baseline includes the libraries
peaks = {"stream": 0.0, "all": 0.0}
phase = ["stream"]
stop = threading.Event()
def sample():
    while not stop.is_set():
        value = rss_mb()
        for name in ("stream", "all"):
            if name == "all" or phase[0] == "stream":
                peaks[name] = max(peaks[name], value)
        time.sleep(0.05)
real_gather = cache_module.EmbeddingCache.gather
def gather(self, hashes):
    phase[0] = "gather"
    return real_gather(self, hashes)
cache_module.EmbeddingCache.gather = gather
before = rss_mb()
thread = threading.Thread(target=sample, daemon=True)
thread.start()
start = time.perf_counter()
result = embed_module.embed(samples, content_hashes=hashes, cfg=cfg, checkpoint="",
                            normalize=True, cache_dir=cache_dir)
seconds = time.perf_counter() - start
stop.set(); thread.join()
print(json.dumps({"n": len(samples), "before_mb": before, "stream_peak_mb": peaks["stream"],
                  "peak_mb": peaks["all"], "seconds": seconds,
                  "result_mb": result.embeddings.nbytes / 2**20}))
"""


def build_folder(root: Path, n: int) -> None:
    """N distinct 96x96 JPEGs cut from real photos, in folders of 1,000."""
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    rng = np.random.default_rng(0)
    for i in range(n):
        src = photos[i % len(photos)]
        top, left = int(rng.integers(0, src.shape[0] - 96)), int(rng.integers(0, src.shape[1] - 96))
        crop = src[top : top + 96, left : left + 96]
        folder = root / f"part{i // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(crop).save(folder / f"{i:06d}.jpg", quality=90)


def measure(n: int, work: Path) -> dict[str, float]:
    images, cache_dir = work / f"in{n}", work / f"cache{n}"
    build_folder(images, n)
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(images), str(cache_dir)],
        env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        check=True,
    )
    row: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    row["load"] = os.getloadavg()[0]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 50000])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            rows.append(measure(n, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    if args.no_write:
        return
    lines = [
        SECTION,
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, no GPU; shared with other jobs (load average after each "
        f"size in the table). Date: {datetime.now(UTC):%Y-%m-%d}. "
        f"Command: `python {' '.join(sys.argv)}`.",
        "",
        "`embed()` over N 96x96 JPEGs, ResNet-18 (random weights) at 32 px, batch 256, empty "
        "cache, decoding in the main process. RSS of that process: before embedding (torch and "
        "Lightning loaded), peak while rows stream into the cache shards, and peak including "
        "the gathered result (N x 512 float16, memory-mapped).",
        "",
        "| N | before (MB) | peak while streaming (MB) | growth (MB) | peak with result (MB) "
        "| result (MB) | seconds | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {int(r['n'])} | {r['before_mb']:.0f} | {r['stream_peak_mb']:.0f} "
            f"| {r['stream_peak_mb'] - r['before_mb']:.0f} | {r['peak_mb']:.0f} "
            f"| {r['result_mb']:.0f} | {r['seconds']:.0f} | {r['load']:.1f} |"
        )
    replace_section("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
