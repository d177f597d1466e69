"""Benchmark: embedding throughput and selection time of ``lightly-run`` on this machine.

Builds folders of N 640x480 JPEGs (crops of real photos bundled in scikit-image, with noise so
no two are equal), runs ``lightly-run`` at its defaults (first run, then a rerun that hits the
caches) and reads the stage timings from ``report.json``. Results replace the
``## Embedding and selection`` section of ``docs/benchmarks.md``.

Usage: ``python benchmarks/embed_select.py [--sizes 1000 10000] [--n-select 100]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from docs_section import replace_section  # benchmarks/ is on sys.path
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Embedding and selection"


def build_folder(root: Path, n: int, seed: int = 0) -> None:
    """N distinct 640x480 JPEGs (q90) cut from real photos."""
    from skimage import data

    photos = [
        data.astronaut(),
        data.chelsea(),
        data.coffee(),
        data.rocket(),
        data.retina(),
        data.immunohistochemistry(),
        data.hubble_deep_field(),
        data.colorwheel(),
    ]
    big = [np.asarray(Image.fromarray(p).convert("RGB").resize((1280, 960))) for p in photos]
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    for i in range(n):
        src = big[i % len(big)]
        top, left = int(rng.integers(0, 480)), int(rng.integers(0, 640))
        crop = src[top : top + 480, left : left + 640].astype(np.int16)
        crop = np.clip(crop + rng.integers(-8, 9, size=crop.shape), 0, 255).astype(np.uint8)
        folder = root / f"part{i // 1000:02d}"
        folder.mkdir(exist_ok=True)
        Image.fromarray(crop).save(folder / f"img_{i:06d}.jpg", quality=90)


def run(input_mount: Path, lightly_mount: Path, n_select: int) -> tuple[dict[str, object], float]:
    lightly_run = Path(sys.executable).parent / "lightly-run"
    args = [
        str(lightly_run),
        f"mounts.input_mount={input_mount}",
        f"mounts.lightly_mount={lightly_mount}",
        f"selection.n_samples={n_select}",
    ]
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, text=True, cwd=lightly_mount)
    wall = time.perf_counter() - start
    report = json.loads((lightly_mount / ".lightly/runs/latest/report.json").read_text())
    return report, wall


def measure(n: int, n_select: int, workdir: Path) -> dict[str, object]:
    input_mount, lightly_mount = workdir / f"in{n}", workdir / f"lightly{n}"
    build_folder(input_mount, n)
    lightly_mount.mkdir()
    first, wall_first = run(input_mount, lightly_mount, n_select)
    second, wall_second = run(input_mount, lightly_mount, n_select)
    timings = first["timings_s"]
    assert isinstance(timings, dict)
    return {
        "n": n,
        "embed_s": timings["embed"],
        "img_per_s": n / float(timings["embed"]),
        "inspect_s": timings["inspect"],
        "select_s": timings["select"],
        "wall_first_s": wall_first,
        "wall_rerun_s": wall_second,
        "rerun_misses": second["embedding_cache"]["misses"],  # type: ignore[index]
        "model": first["model"],
    }


def write_section(rows: list[dict[str, object]], n_select: int, command: str) -> None:
    model = rows[0]["model"]
    assert isinstance(model, dict)
    lines = [
        SECTION,
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, no GPU. Date: {datetime.now(UTC):%Y-%m-%d}. "
        f"Command: `{command}`.",
        f"Model: {model['name']} at {model['input_size']} px on {model['device']} "
        "(the defaults); 640x480 q90 JPEGs; DIVERSITY selecting "
        f"{n_select}. Whole-process wall time includes Python, torch and model start-up.",
        "",
        "| N images | embed (s) | embed img/s | inspect (s) | select (s) | first run wall (s) "
        "| rerun wall (s) | rerun re-embedded | speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        speedup = float(r["wall_first_s"]) / float(r["wall_rerun_s"])  # type: ignore[arg-type]
        lines.append(
            f"| {r['n']} | {float(r['embed_s']):.1f} | {float(r['img_per_s']):.0f} "  # type: ignore[arg-type]
            f"| {float(r['inspect_s']):.1f} | {float(r['select_s']):.2f} "  # type: ignore[arg-type]
            f"| {float(r['wall_first_s']):.1f} | {float(r['wall_rerun_s']):.1f} "  # type: ignore[arg-type]
            f"| {r['rerun_misses']} | {speedup:.1f}x |"
        )
    replace_section("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--n-select", type=int, default=100)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            row = measure(n, args.n_select, Path(tmp))
            print(json.dumps({k: v for k, v in row.items() if k != "model"}), flush=True)
            rows.append(row)
    write_section(rows, args.n_select, "python " + " ".join(sys.argv))


if __name__ == "__main__":
    main()
