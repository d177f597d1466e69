"""Benchmark: a whole ``lightly-run`` against ``lightly-embed``, and reruns on unchanged data.

For each size N: a folder of N 640x480 q90 JPEGs (:func:`embed_select.build_folder`). Each
round runs, alternated in the same process: ``lightly-run`` at its defaults on a fresh Lightly
datasource (first run), ``lightly-run`` again on it (rerun, nothing changed), and, at the sizes
given with ``--peer-sizes``, ``lightly-embed`` (lightly 1.5.26, the peers venv built by
``../shared/tools/peers-venv.sh``) at its defaults with random weights
(``pre_trained=False``: nothing downloads). Whole-process wall times; the 1-minute load average
before each command is recorded because the machine is shared. Results replace the
``## Whole run against lightly-embed; reruns`` section of ``docs/benchmarks.md``.

Usage: ``python benchmarks/run_vs_peer.py [--sizes 2000 10000] [--peer-sizes 2000]
[--rounds 2] [--peers DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from docs_section import cpu_model, replace_section  # benchmarks/ is on sys.path
from embed_select import build_folder

SECTION = "## Whole run against lightly-embed; reruns"


def load() -> float:
    """The 1-minute load average (the machine is shared)."""
    return os.getloadavg()[0]


def timed(args: list[str], cwd: Path) -> tuple[float, float]:
    """Run a command to completion; return (wall seconds, load average before it)."""
    before = load()
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{done.stderr[-2000:]}")
    return wall, before


def ours(input_mount: Path, lightly_mount: Path) -> list[str]:
    lightly_run = Path(sys.executable).parent / "lightly-run"
    return [
        str(lightly_run),
        f"mounts.input_mount={input_mount}",
        f"mounts.lightly_mount={lightly_mount}",
        "selection.n_samples=100",
    ]


def peer(peers: Path, input_dir: Path) -> list[str]:
    return [
        str(peers / "bin" / "lightly-embed"),
        f"input_dir={input_dir}",
        "pre_trained=False",
        "hydra.run.dir=.",
    ]


def measure(n: int, with_peer: bool, rounds: int, peers: Path, work: Path) -> dict[str, object]:
    images = work / f"in{n}"
    build_folder(images, n)
    first, rerun, theirs, loads = [], [], [], []
    report: dict[str, object] = {}
    for r in range(rounds):
        lightly_mount = work / f"lightly{n}-{r}"
        lightly_mount.mkdir()
        wall, before = timed(ours(images, lightly_mount), work)
        first.append(wall)
        loads.append(before)
        report = json.loads((lightly_mount / ".lightly/runs/latest/report.json").read_text())
        wall, before = timed(ours(images, lightly_mount), work)
        rerun.append(wall)
        loads.append(before)
        if with_peer:
            peer_cwd = work / f"peer{n}-{r}"
            peer_cwd.mkdir()
            wall, before = timed(peer(peers, images), peer_cwd)
            theirs.append(wall)
            loads.append(before)
            shutil.rmtree(peer_cwd)
        shutil.rmtree(lightly_mount)
    shutil.rmtree(images)
    return {
        "n": n,
        "first": first,
        "rerun": rerun,
        "peer": theirs,
        "loads": loads,
        "timings": report["timings_s"],
        "model": report["model"],
    }


def _fmt(values: list[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values)


def write_section(rows: list[dict[str, object]], command: str, rounds: int) -> None:
    peak = max(float(v) for r in rows for v in r["loads"])  # type: ignore[attr-defined]
    shared = (
        "**shared with other jobs**"
        if peak > (os.cpu_count() or 1) + 0.5
        else f"otherwise idle (1-min load average at most {peak:.1f})"
    )
    lines = [
        SECTION,
        "",
        f"Machine: {platform.machine()} {cpu_model()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, no GPU; {shared} (load average before each command in "
        f"the table). Date: {datetime.now(UTC):%Y-%m-%d}. Command: `{command}`.",
        "",
        "lightly-run at its defaults (EfficientNet-Lite0, 128 px, pretrained; inspection, "
        "embedding, DIVERSITY selecting 100, Lightly thumbnails, artifacts, PDF report) on a "
        "fresh Lightly datasource, then again on unchanged data; lightly-embed (lightly 1.5.26) "
        "at its defaults (ResNet-18 at 64 px, random weights, embedding only). Whole process "
        f"wall time, {rounds} rounds alternated; ratios of the medians.",
        "",
        "| N | lightly-run first (s) | rerun (s) | lightly-embed (s) | lightly-embed / first "
        "| first / rerun | load averages | stage times of the last first run (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        first, rerun, theirs = r["first"], r["rerun"], r["peer"]
        assert isinstance(first, list) and isinstance(rerun, list) and isinstance(theirs, list)
        med_first = statistics.median(first)
        ratio_peer = f"{statistics.median(theirs) / med_first:.2f}x" if theirs else "-"
        timings = r["timings"]
        assert isinstance(timings, dict)
        stages = ", ".join(f"{k} {float(v):.1f}" for k, v in timings.items())
        loads = r["loads"]
        assert isinstance(loads, list)
        lines.append(
            f"| {r['n']} | {_fmt(first)} | {_fmt(rerun)} | {_fmt(theirs) or '-'} | {ratio_peer} "
            f"| {med_first / statistics.median(rerun):.1f}x | {_fmt(loads)} | {stages} |"
        )
    replace_section("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--peer-sizes", type=int, nargs="*", default=[2000])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--peers", type=Path, default=Path(tempfile.gettempdir()) / "peers-venv")
    parser.add_argument("--no-write", action="store_true", help="print, do not edit the docs")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            row = measure(n, n in args.peer_sizes, args.rounds, args.peers, Path(tmp))
            print(json.dumps(row), flush=True)
            rows.append(row)
    if not args.no_write:
        write_section(rows, "python " + " ".join(sys.argv), args.rounds)


if __name__ == "__main__":
    main()
