"""Benchmark: DIVERSITY (k-center greedy) of lightly-runner against ``lightly-mundig`` 0.1.16.

Both engines select from the same embeddings in the same run, each in a fresh subprocess
(peak memory is per process): ours through ``runner.selection.select.select``, mundig through
``Selection.add_diversifying_strategy`` + ``run_selection`` in the peers venv
(``../shared/tools/peers-venv.sh``; never a project dependency). Both start from row 0 (mundig
always does; ours gets row 0 as its one preselected row), so both run the same greedy and the
minimum pairwise distances are comparable. Data: L2-normalised Gaussian noise (the worst case:
every point is far from every other) and a clustered mixture with a decaying spectrum (like
real embeddings). Results replace the ``## Selection speed`` section of ``docs/benchmarks.md``.

Usage: ``python benchmarks/selection_speed.py [--cases kind:N:D:k[:preset] ...]
[--peers DIR] [--no-mundig CASE ...]`` (kind: random | clustered; preset: diversity |
typicality | representative | herding, ours only except diversity)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
from docs_section import cpu_model, replace_section  # benchmarks/ is on sys.path

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Selection speed"
DEFAULT_CASES = [
    "random:100000:512:10000",
    "clustered:100000:512:10000",
    "clustered:1000000:256:1000",
    "clustered:100000:512:10000:typicality",
    "clustered:100000:512:10000:representative",
    "clustered:100000:512:1000:herding",
    "clustered:100000:512:10000:herding",
]

OURS = """
import json, os, re, sys, time
import numpy as np
from runner.config import (InputType, SelectionConfig, SelectionInput, SelectionStrategy,
                           StrategyEntry, StrategyType)
from runner.selection.select import select
x = np.load(sys.argv[1])
k = int(sys.argv[2])
def entry(kind, **fields):
    return StrategyEntry(input=SelectionInput(type=InputType.EMBEDDINGS),
                         strategy=SelectionStrategy(type=kind, **fields))
diversity = entry(StrategyType.DIVERSITY)
typicality = entry(StrategyType.TYPICALITY, num_nearest_neighbors=30, strength=0.75)
strategies = {"diversity": [diversity], "typicality": [typicality],
              "representative": [diversity, typicality],
              "herding": [entry(StrategyType.HERDING)]}[sys.argv[4]]
start, cpu = time.perf_counter(), os.times()
result = select(embeddings=x, cfg=SelectionConfig(n_samples=k - 1, strategies=strategies),
                seed=0, preselected=[0])
seconds = time.perf_counter() - start
cpu_s = sum(os.times()[:2]) - sum(cpu[:2])  # user + sys of this process
np.save(sys.argv[3], np.array([0, *result.indices]))
status = open("/proc/self/status").read()  # VmHWM: this process's peak (ru_maxrss is
rss = int(re.search(r"VmHWM:\\s+(\\d+)", status).group(1)) / 2**20  # inherited over fork)
backend = result.per_strategy[0].get("backend")
print(json.dumps({"seconds": seconds, "cpu_s": cpu_s, "rss_gb": rss, "backend": backend,
                  "load": os.getloadavg()[0]}))
"""

MUNDIG = """
import json, re, sys, time
import numpy as np
import lightly_mundig
x = np.load(sys.argv[1])
k = int(sys.argv[2])
start = time.perf_counter()
selection = lightly_mundig.Selection()
selection.add_diversifying_strategy(x, 1.0, None)
ingest = time.perf_counter() - start
picks = selection.run_selection([], x.shape[0], k)
seconds = time.perf_counter() - start
np.save(sys.argv[3], np.array(picks))
status = open("/proc/self/status").read()  # VmHWM: this process's peak (ru_maxrss is
rss = int(re.search(r"VmHWM:\\s+(\\d+)", status).group(1)) / 2**20  # inherited over fork)
print(json.dumps({"seconds": seconds, "ingest_s": ingest, "rss_gb": rss}))
"""


def make_data(kind: str, n: int, d: int, seed: int = 0) -> npt.NDArray[np.float32]:
    """Unit rows: Gaussian noise, or 1000 clusters of varied spread on a decaying spectrum."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        x = rng.standard_normal((n, d), dtype=np.float32)
    else:
        spectrum = (1.0 / np.arange(1, d + 1) ** 0.8).astype(np.float32)  # (d,)
        centres = 3 * rng.standard_normal((1000, d), dtype=np.float32) * spectrum
        labels = rng.integers(0, 1000, n)
        spread = rng.uniform(0.3, 1.0, 1000).astype(np.float32)
        x = centres[labels]
        for start in range(0, n, 100_000):  # bounded memory for N = 1M
            block = slice(start, start + 100_000)
            noise = rng.standard_normal((x[block].shape[0], d), dtype=np.float32)
            x[block] += noise * spectrum * spread[labels[block], None]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def min_pairwise(x: npt.NDArray[np.float32], rows: npt.NDArray[np.int64]) -> float:
    """Minimum Euclidean distance between two selected rows, in float64, blocked.

    A float32 pass finds the pairs within 1e-4 (squared) of the smallest, then those are
    recomputed in float64 (k = 100k: minutes in float64 throughout, seconds this way).
    """
    s = np.ascontiguousarray(x[rows], dtype=np.float32)  # (k, D)
    sq = np.einsum("kd,kd->k", s, s)  # (k,)
    found: list[tuple[float, npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
    for start in range(0, len(rows), 2000):
        block = s[start : start + 2000]  # (b, D)
        d2 = sq[start : start + 2000, None] + sq[None, :] - 2.0 * (block @ s.T)  # (b, k)
        d2[np.arange(block.shape[0]), start + np.arange(block.shape[0])] = np.inf
        low = float(d2.min())
        i, j = np.nonzero(d2 <= low + 1e-4)
        found.append((low, start + i, j))
    best = min(low for low, _, _ in found)
    pairs = [(i, j) for low, i, j in found if low <= best + 1e-4]
    i = np.concatenate([p[0] for p in pairs])
    j = np.concatenate([p[1] for p in pairs])
    diff = s[i].astype(np.float64) - s[j].astype(np.float64)  # (pairs, D)
    return float(np.sqrt(np.einsum("pd,pd->p", diff, diff).min()))


def run_engine(
    python: str, code: str, data: Path, k: int, out: Path, preset: str = "diversity"
) -> dict[str, float]:
    """Run one engine in a fresh process; its JSON line plus the picks."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [python, "-c", code, str(data), str(k), str(out), preset],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _engines(
    peers: Path | None, preset: str, data: Path, k: int, workdir: Path
) -> dict[str, tuple[str, str, Path, str]]:
    """The engines to run on this case: ours, and mundig for DIVERSITY."""
    engines = {"ours": (sys.executable, OURS, workdir / "ours.npy", preset)}
    if peers is not None and preset == "diversity":
        engines["mundig"] = (str(peers / "bin" / "python"), MUNDIG, workdir / "m.npy", preset)
    return engines


def case_preset(case: str) -> str:
    """The preset of a ``kind:N:D:k[:preset]`` case (``diversity`` when not given)."""
    rest = case.split(":")[4:]
    return rest[0] if rest else "diversity"


def case_data(kind: str, n: int, d: int, workdir: Path, cache: Path | None) -> Path:
    """The ``.npy`` file of a case's embeddings; made once per ``cache`` dir (1M x 512: ~1 min)."""
    data = (cache or workdir) / f"{kind}-{n}x{d}-seed0.npy"
    if cache is None or not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        np.save(data.with_suffix(".tmp.npy"), make_data(kind, n, d))
        data.with_suffix(".tmp.npy").replace(data)
    return data


def measure(
    case: str, peers: Path | None, workdir: Path, repeat: int, cache: Path | None = None
) -> dict[str, object]:
    """Run each engine ``repeat`` times, interleaved (they share the machine's noise)."""
    kind, n, d, k = case.split(":")[:4]
    preset = case_preset(case)
    data = case_data(kind, int(n), int(d), workdir, cache)
    x = np.load(data, mmap_mode="r")
    row: dict[str, object] = {"case": case, "kind": kind, "n": int(n), "d": int(d), "k": int(k)}
    row["preset"] = preset
    engines = _engines(peers, preset, data, int(k), workdir)
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(repeat):
        for name, (python, code, out, which) in engines.items():
            result = run_engine(python, code, data, int(k), out, which)
            times[name].append(float(result["seconds"]))
            row |= {f"{name}_{key}": value for key, value in result.items()}
    for name, (_, _, out, _) in engines.items():
        row[f"{name}_seconds"] = float(np.median(times[name]))
        row[f"{name}_runs"] = times[name]
        row[f"{name}_min_distance"] = min_pairwise(x, np.load(out))
    if "mundig" in engines:
        row["ratio"] = float(row["ours_seconds"]) / float(row["mundig_seconds"])  # type: ignore[arg-type]
    return row


def _cell(row: dict[str, object], key: str, fmt: str) -> str:
    value = row.get(key)
    return "—" if value is None else format(float(value), fmt)  # type: ignore[arg-type]


def _time(row: dict[str, object], name: str) -> str:
    runs = row.get(f"{name}_runs")
    if not isinstance(runs, list):
        return "—"
    return f"{np.median(runs):.1f} [{min(runs):.1f}-{max(runs):.1f}]"


def write_section(
    rows: list[dict[str, object]],
    command: str,
    repeat: int,
    loads: tuple[float, float],
    section: str = SECTION,
) -> None:
    """Replace the ``section`` of docs/benchmarks.md; ``loads``: 1-min load at start and end."""
    lines = [
        section,
        "",
        f"Machine: {platform.machine()} {cpu_model()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}, no GPU; 1-min load average {loads[0]:.1f} at the"
        f" start, {loads[1]:.1f} at the end (the machine is shared: wall times vary run to"
        " run). Date:"
        f" {datetime.now(UTC):%Y-%m-%d}. Command: `{command}`.",
        "",
        *_intro(rows, repeat),
        "",
        "| strategies | data | N | D | k | ours (s) | ours CPU (s) | mundig (s) | ours / mundig "
        "| ours min dist | mundig min dist | ours RSS (GB) | mundig RSS (GB) | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['preset']} | {r['kind']} | {r['n']} | {r['d']} | {r['k']}"
            f" | {_time(r, 'ours')} | {_cell(r, 'ours_cpu_s', '.1f')} | {_time(r, 'mundig')}"
            f" | {_cell(r, 'ratio', '.3f')}"
            f" | {_cell(r, 'ours_min_distance', '.6f')} | {_cell(r, 'mundig_min_distance', '.6f')}"
            f" | {_cell(r, 'ours_rss_gb', '.2f')} | {_cell(r, 'mundig_rss_gb', '.2f')}"
            f" | {_cell(r, 'ours_load', '.1f')} |"
        )
    if any(r["preset"] == "diversity" for r in rows):
        lines += [
            "",
            "Both engines run the same greedy; min-dist differences of ~1e-5 come from float32"
            " rounding between near-equal candidates, after which the two paths differ (ours"
            " matches a float64 run of the greedy, see [selection.md](selection.md#performance)).",
        ]
    replace_section("\n".join(lines) + "\n")


def _intro(rows: list[dict[str, object]], repeat: int) -> list[str]:
    """What the table measures: the mundig comparison, or our strategies alone."""
    if not any(r["preset"] == "diversity" for r in rows):
        return [
            "Ours only (no peer implements these strategies): the preset's strategies select k"
            " rows after preselected row 0 from clustered embeddings (float32), each run in its"
            f" own process, {repeat} runs per case. Time: median (min-max), the whole"
            " `select()` call. RSS: peak resident memory of the process, embeddings included."
            " CPU: user + system time of the process during `select()`; load: the 1-min load"
            " average when it ended. `herding` is the default preset (HERDING)."
        ]
    return [
        "DIVERSITY, k-center greedy from row 0, same embeddings (float32, unit rows), each"
        f" engine in its own process, {repeat} runs each, interleaved. Time: median of the"
        " runs (min-max in brackets), whole selection (mundig: ingest + run); ours CPU: user +"
        " sys seconds of our process (last run), the work regardless of load. Min dist:"
        " minimum pairwise Euclidean distance of the selected set (higher is better). RSS:"
        " peak resident memory of the process, embeddings included. `representative` is the"
        " preset DIVERSITY x TYPICALITY (k = 30, strength 0.75); `typicality` is that"
        " TYPICALITY alone (mostly the neighbour search); `herding` is the default preset"
        " (HERDING); mundig runs DIVERSITY only.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES, help="kind:N:D:k")
    parser.add_argument("--peers", type=Path, default=Path(tempfile.gettempdir()) / "peers-venv")
    parser.add_argument("--no-mundig", nargs="*", default=[], help="cases to run ours only")
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine (median)")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch docs")
    parser.add_argument(
        "--data-cache", type=Path, help="keep the generated embeddings here between runs"
    )
    parser.add_argument(
        "--section", default=SECTION, help="heading of the docs/benchmarks.md section to replace"
    )
    args = parser.parse_args()
    needs_peers = [
        c for c in args.cases if c not in args.no_mundig and case_preset(c) == "diversity"
    ]
    if needs_peers and not (args.peers / "bin" / "python").exists():
        sys.exit(f"no peers venv at {args.peers}: run ../shared/tools/peers-venv.sh {args.peers}")
    start_load = os.getloadavg()[0]
    rows = []
    for case in args.cases:
        with tempfile.TemporaryDirectory() as tmp:
            peers = None if case in args.no_mundig else args.peers
            row = measure(case, peers, Path(tmp), args.repeat, args.data_cache)
        print(json.dumps(row), flush=True)
        rows.append(row)
    if not args.no_write:
        loads = (start_load, os.getloadavg()[0])
        command = "python " + shlex.join(sys.argv)
        write_section(rows, command, args.repeat, loads, args.section)


if __name__ == "__main__":
    main()
