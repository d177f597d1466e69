"""Benchmark: the two GPU goals of issue 13, on whatever device torch sees.

1. **Folder -> embeddings on disk.** A folder of ``--images`` JPEGs (640x480 q90, made from
   real photos bundled in scikit-image / scikit-learn, varied crops) is read, decoded, resized
   and normalised by :mod:`runner.embedding.device_decode` (nvJPEG on CUDA; reading, decoding
   and compute overlap), embedded by ResNet-18 (random weights: speed does not depend on them)
   in bf16 + channels_last on CUDA (float32 on the CPU), and written as float16 shards of
   ``--shard`` rows (temp file, then rename). Time: first byte read to last shard renamed,
   after one warm-up batch. Goal on one H100: >= 12k img/s.
2. **k-center.** ``--k`` picks from ``--n`` x ``--d`` clustered unit embeddings with
   :class:`runner.selection.torch_kcenter.TorchKCenter` (the exact greedy). Goal on one H100:
   100k picks from 1M x 512 in <= 10 s.

On a machine without CUDA the same code runs on the CPU (use small sizes): that proves the
script, not the goals. The section written to docs/benchmarks.md names the device it ran on;
a GPU figure appears there only when a GPU ran it.

Usage: ``python benchmarks/gpu_throughput.py [--images N] [--size S] [--batch B] [--n N]
[--d D] [--k K] [--device cuda|cpu] [--no-write]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from docs_section import replace_section  # benchmarks/ is on sys.path
from selection_speed import make_data

from runner.atomic import atomic_path
from runner.embedding.device_decode import DeviceDecoder, device_batches
from runner.selection.torch_kcenter import TorchKCenter

SECTION = "## GPU throughput"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _write_jpegs(args: tuple[Path, int, int]) -> None:
    """Write JPEGs ``start..stop`` of the folder: random 640x480 crops of real photos."""
    from PIL import Image
    from skimage import data
    from sklearn.datasets import load_sample_images

    folder, start, stop = args
    photos = [data.astronaut(), data.coffee(), data.chelsea(), *load_sample_images().images]
    rng = np.random.default_rng(start)
    for i in range(start, stop):
        photo = Image.fromarray(photos[i % len(photos)])
        w, h = photo.size
        side = rng.uniform(0.5, 1.0)
        cw, ch = int(w * side), int(h * side)
        left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        crop = photo.crop((left, top, left + cw, top + ch)).resize((640, 480))
        crop.save(folder / f"{i:07d}.jpg", quality=90)


def make_folder(folder: Path, n: int) -> list[tuple[str, Path]]:
    """``n`` JPEGs in ``folder`` (made in parallel); ``(key, path)`` of each."""
    folder.mkdir(parents=True, exist_ok=True)
    step = max(1, n // (4 * (os.cpu_count() or 1)))
    parts = [(folder, s, min(n, s + step)) for s in range(0, n, step)]
    with ProcessPoolExecutor() as pool:
        list(pool.map(_write_jpegs, parts))
    return [(p.name, p) for p in sorted(folder.glob("*.jpg"))]


def _model(device: torch.device) -> torch.nn.Module:
    from torchvision.models import resnet18

    model = resnet18(weights=None)
    model.fc = torch.nn.Identity()  # (B, 512) features, as the embedding models return
    return model.eval().to(device, memory_format=torch.channels_last)


def folder_to_disk(
    items: list[tuple[str, Path]],
    out: Path,
    *,
    device: torch.device,
    size: int,
    batch: int,
    shard: int,
) -> dict[str, float]:
    """Embed every file to float16 shards in ``out``; images per second, end to end."""
    on_cuda = device.type == "cuda"
    dtype = torch.bfloat16 if on_cuda else torch.float32
    decoder = DeviceDecoder(size, MEAN, STD, device, dtype)
    model = _model(device)
    workers = min(32, 2 * (os.cpu_count() or 1))
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_cuda)
    with torch.inference_mode(), autocast:  # warm-up: kernels, cuDNN heuristics, allocator
        for warm in device_batches(items[:batch], decoder, batch_size=batch):
            model(warm.images)
    if on_cuda:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    rows: list[torch.Tensor] = []
    n_rows = n_shards = 0

    def flush() -> None:
        nonlocal rows, n_shards
        block = torch.cat(rows).cpu().numpy()  # (R, 512) float16
        with atomic_path(out / f"shard-{n_shards:05d}.npy", suffix=".npy") as tmp:
            np.save(tmp, block)
        rows, n_shards = [], n_shards + 1

    with torch.inference_mode(), autocast:
        for decoded in device_batches(items, decoder, batch_size=batch, read_workers=workers):
            rows.append(model(decoded.images).to(torch.float16))
            n_rows += len(decoded.keys)
            if sum(len(r) for r in rows) >= shard:
                flush()
        if rows:
            flush()
    seconds = time.perf_counter() - start
    return {"images": n_rows, "seconds": seconds, "img_per_s": n_rows / seconds}


def kcenter(n: int, d: int, k: int, *, device: torch.device) -> dict[str, float]:
    """Seconds for ``k`` exact greedy picks from ``n`` x ``d`` clustered unit rows."""
    x = make_data("clustered", n, d)
    engine = TorchKCenter(x, device=str(device))
    del x
    engine.add_row(0)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    key = 0.0
    for _ in range(k):
        row, key = engine.argmax(factor=None, power=1.0)
        engine.add_row(row)
    seconds = time.perf_counter() - start
    return {"n": n, "d": d, "k": k, "seconds": seconds, "last_distance": key, **engine.stats}


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({os.cpu_count()} cores, {platform.machine()})"


def write_section(results: dict[str, object], command: str) -> None:
    """Replace the ``## GPU throughput`` section of docs/benchmarks.md with this run."""
    embed, kc = results["folder"], results["kcenter"]
    assert isinstance(embed, dict) and isinstance(kc, dict)
    on_gpu = results["device_type"] == "cuda"
    lines = [
        SECTION,
        "",
        f"Device: {results['device']}; torch {torch.__version__}, {torch.get_num_threads()}"
        f" intra-op threads; 1-min load average"
        f" {results['load']}. Date: {datetime.now(UTC):%Y-%m-%d}. Command: `{command}`.",
        "",
        "| goal | measured | target (one H100) |",
        "|---|---|---|",
        f"| folder of {embed['images']} JPEGs 640x480 -> ResNet-18 embeddings on disk"
        f" | {embed['img_per_s']:.0f} img/s ({embed['seconds']:.1f} s) | >= 12,000 img/s |",
        f"| k-center {kc['k']} picks from {kc['n']} x {kc['d']}"
        f" | {kc['seconds']:.1f} s | <= 10 s for 100k picks from 1M x 512 |",
    ]
    if not on_gpu:
        lines += [
            "",
            "This run is on the CPU: it proves the script and the device-agnostic code path,"
            " not the GPU goals (a load average above the core count means a shared machine:"
            " CPU figures are then lower bounds). **GPU figures: unmeasured** (no GPU was lent"
            " to this work).",
        ]
    replace_section("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=224, help="model input side")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--shard", type=int, default=65_536, help="rows per shard file")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--k", type=int, default=100_000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch docs")
    args = parser.parse_args()
    device = torch.device(args.device)
    results: dict[str, object] = {"device": _device_name(device), "device_type": device.type}
    with tempfile.TemporaryDirectory() as tmp:
        items = make_folder(Path(tmp) / "images", args.images)
        out = Path(tmp) / "embeddings"
        out.mkdir()
        results["folder"] = folder_to_disk(
            items, out, device=device, size=args.size, batch=args.batch, shard=args.shard
        )
    print(json.dumps(results["folder"]), flush=True)
    results["kcenter"] = kcenter(args.n, args.d, args.k, device=device)
    print(json.dumps(results["kcenter"]), flush=True)
    results["load"] = f"{os.getloadavg()[0]:.1f}"
    if not args.no_write:
        write_section(results, "python " + shlex.join(sys.argv))


if __name__ == "__main__":
    main()
