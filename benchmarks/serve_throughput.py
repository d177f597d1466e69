"""Requests/s and errors of ``lightly-serve`` at 1, 16 and 64 concurrent clients: ours vs Lightly's.

Both servers run as their own processes on the same files (thumbnail-sized, like a viewer grid
or the Platform loads them). Each client is a thread with one ``http.client`` connection that
behaves like a browser: it keeps the connection alive when the server allows it (ours, HTTP/1.1)
and reconnects when the server closes it (Lightly's, HTTP/1.0). Clients are spread over two
processes so the client is not the only bottleneck. An error is any exception (refused or reset
connection, timeout) or a reply that is not ``200`` with the file's exact length.

Lightly's ``lightly-serve`` comes from the peers venv (never a project dependency)::

    ../shared/tools/peers-venv.sh            # builds $TMPDIR/peers-venv with lightly 1.5.26
    .venv/bin/python benchmarks/serve_throughput.py --write-docs

``--write-docs`` puts the table into ``docs/benchmarks.md`` under ``## lightly-serve throughput``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import itertools
import os
import platform
import random
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from docs_section import replace_section  # benchmarks/ is on sys.path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "benchmarks.md"
SECTION = "## lightly-serve throughput"
CONCURRENCY = (1, 16, 64)
CLIENT_PROCESSES = 2
MODES = ("keep-alive", "close")
OURS = "lightly-runner"
NOTE = (
    "Browsers keep connections alive (HTTP/1.1), so the keep-alive rows are what a viewer grid "
    "or the Platform sees. The close rows isolate the cost of a new connection per request, "
    "where the two stdlib servers are about even (0.7x to 1.7x across our runs). Lightly's "
    "errors are 10 s client timeouts from its accept backlog of 5 (patched to 128, a 64-client "
    "run had none)."
)


@dataclass(frozen=True)
class Cell:
    """One measurement: a server at one concurrency."""

    server: str
    mode: str
    clients: int
    requests: int
    errors: int
    seconds: float
    error_kinds: dict[str, int]
    server_cpu_s: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us_per_request(self) -> float:
        """Server CPU time per answered request: robust to scheduling noise on small machines."""
        return 1e6 * self.server_cpu_s / max(1, self.requests + self.errors)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_files(root: Path, count: int, size: int) -> list[tuple[str, int]]:
    """``count`` files of about ``size`` bytes under ``root/input/cam1``; (URL path, length)."""
    folder = root / "input" / "cam1"
    folder.mkdir(parents=True)
    (root / "lightly" / "cam1").mkdir(parents=True)
    rng = random.Random(0)
    files = []
    for i in range(count):
        length = size + rng.randrange(-size // 4, size // 4)
        (folder / f"img_{i:05d}.jpg").write_bytes(rng.randbytes(length))
        files.append((f"/cam1/img_{i:05d}.jpg", length))
    return files


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(command: list[str], port: int, probe: str, cwd: Path) -> subprocess.Popen[bytes]:
    """Start a server process and wait until it answers ``probe`` with 200."""
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", probe)
            if conn.getresponse().status == 200:
                conn.close()
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not start: {shlex.join(command)}")


def _client_loop(
    port: int,
    files: list[tuple[str, int]],
    stop_at: float,
    seed: int,
    close: bool,
    tally: Counter[str],
) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Connection": "close"} if close else {}
    while time.monotonic() < stop_at:
        path, length = files[rng.randrange(len(files))]
        try:
            conn.request("GET", path, headers=headers)
            reply = conn.getresponse()
            body = reply.read()
            if reply.status == 200 and len(body) == length:
                tally["ok"] += 1
            else:
                tally[f"HTTP {reply.status}"] += 1
            if reply.will_close:
                conn.close()
        except (OSError, http.client.HTTPException) as exc:
            tally[type(exc).__name__] += 1
            conn.close()
    conn.close()


@dataclass(frozen=True)
class Load:
    """What every client process runs: ``threads`` clients from ``start_at`` for ``seconds``."""

    port: int
    files: list[tuple[str, int]]
    start_at: float
    seconds: float
    close: bool


def _client_process(load: Load, threads: int, seed: int) -> dict[str, int]:
    tallies = [Counter[str]() for _ in range(threads)]
    time.sleep(max(0.0, load.start_at - time.time()))
    stop_at = time.monotonic() + load.seconds
    workers = [
        threading.Thread(
            target=_client_loop,
            args=(load.port, load.files, stop_at, seed + i, load.close, tallies[i]),
        )
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return dict(sum(tallies, Counter[str]()))


def measure(name: str, port: int, pid: int, files: list[tuple[str, int]], clients: int,
            seconds: float, mode: str) -> Cell:  # fmt: skip
    """Run ``clients`` concurrent clients against one server for ``seconds``.

    ``mode`` is ``keep-alive`` (reuse the connection when the server allows) or ``close``
    (``Connection: close``: a new TCP connection per request, as HTTP/1.0 servers force).
    """
    processes = min(CLIENT_PROCESSES, clients)
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    load = Load(port, files, time.time() + 1.0, seconds, mode == "close")  # common start
    with ProcessPoolExecutor(max_workers=processes) as pool:
        cpu_before = process_cpu_s(pid)
        futures = [pool.submit(_client_process, load, n, 1000 * i) for i, n in enumerate(shares)]
        total: Counter[str] = Counter()
        for future in futures:
            total.update(future.result())
        cpu = process_cpu_s(pid) - cpu_before
    errors = {k: v for k, v in total.items() if k != "ok"}
    return Cell(name, mode, clients, total["ok"], sum(errors.values()), seconds, errors, cpu)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def table(cells: list[Cell]) -> str:
    lines = [
        "| server | client connections | clients | requests/s | server CPU µs/request "
        "| requests | errors | error kinds |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for c in cells:
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(c.error_kinds.items())) or "-"
        lines.append(
            f"| {c.server} | {c.mode} | {c.clients} | {c.per_second:,.0f} "
            f"| {c.cpu_us_per_request:,.0f} | {c.requests:,} "
            f"| {c.errors:,} "
            f"| {kinds} |"
        )
    return "\n".join(lines)


def section_text(cells: list[Cell], args: argparse.Namespace, command: str) -> str:
    ours = {(c.mode, c.clients): c for c in cells if c.server == OURS}
    theirs = {(c.mode, c.clients): c for c in cells if c.server != OURS}
    ratios = ", ".join(
        f"{mode} {n}: x{ours[mode, n].per_second / theirs[mode, n].per_second:.2f}"
        for mode, n in ours
        if (mode, n) in theirs and theirs[mode, n].per_second > 0
    )
    return "\n".join(
        [
            SECTION,
            "",
            f"- Date: {dt.date.today().isoformat()}",
            f"- Machine: {machine()}; servers and clients share it.",
            f"- Command: `{command}`",
            f"- Workload: {args.files} files of ~{args.size // 1024} KiB (random bytes, served as "
            f"`.jpg`), random GETs for {args.seconds:g} s per cell. Each client is a thread with "
            "one `http.client` connection, spread over "
            f"{CLIENT_PROCESSES} client processes. *keep-alive*: the client reuses its "
            "connection when the server allows it (ours: HTTP/1.1; Lightly's HTTP/1.0 server "
            "closes every connection, so the client reconnects, as a browser would). *close*: "
            "`Connection: close`, a new TCP connection per request for both servers.",
            "- Lightly's: `lightly-serve` from lightly 1.5.26 (peers venv built by "
            "`../shared/tools/peers-venv.sh`), same files, same client.",
            "- Error = an exception (refused or reset connection, 10 s timeout) or a reply that "
            "is not 200 with the exact length.",
            "- Server CPU µs/request = the server process's user+system CPU time during the cell "
            "divided by the requests it answered. Clients and servers share the cores, so "
            "requests/s varies by ±30 % between runs; the CPU cost per request is the steadier "
            "comparison.",
            "",
            table(cells),
            "",
            f"Ours relative to Lightly's (requests/s): {ratios or 'n/a'}.",
            "",
            NOTE,
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_peers = Path(tempfile.gettempdir()) / "peers-venv"
    parser.add_argument("--peers", type=Path, default=default_peers, help="peers venv folder")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each cell")
    parser.add_argument("--files", type=int, default=300, help="number of files")
    parser.add_argument("--size", type=int, default=24 * 1024, help="mean file size, bytes")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    lightly_serve = args.peers / "bin" / "lightly-serve"
    ours_serve = Path(sys.executable).parent / "lightly-serve"
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        root = Path(tmp)
        files = make_files(root, args.files, args.size)
        mounts = [f"input_mount={root / 'input'}", f"lightly_mount={root / 'lightly'}"]
        servers: dict[str, tuple[list[str], int]] = {}
        servers[OURS] = ([str(ours_serve), *mounts], free_port())
        if lightly_serve.exists():
            servers["lightly 1.5.26"] = ([str(lightly_serve), *mounts], free_port())
        else:
            print(f"warning: {lightly_serve} missing; run ../shared/tools/peers-venv.sh first")
        processes = [
            start_server([*cmd, f"port={port}"], port, files[0][0], root)
            for cmd, port in servers.values()
        ]
        cells = []
        try:
            for mode, clients in itertools.product(MODES, CONCURRENCY):
                for (name, (_, port)), process in zip(servers.items(), processes, strict=True):
                    cell = measure(name, port, process.pid, files, clients, args.seconds, mode)
                    print(
                        f"{name:15s} {mode:10s} {clients:3d} clients: "
                        f"{cell.per_second:8.0f} req/s, {cell.cpu_us_per_request:6.0f} us CPU/req, "
                        f"{cell.errors} errors {cell.error_kinds or ''}",
                        flush=True,
                    )
                    cells.append(cell)
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=10)
    command = shlex.join([".venv/bin/python", "benchmarks/serve_throughput.py", *sys.argv[1:]])
    text = section_text(cells, args, command)
    print("\n" + text)
    if args.write_docs:
        replace_section(text)
        print(f"wrote {DOCS}")


if __name__ == "__main__":
    main()
