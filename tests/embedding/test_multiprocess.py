"""Embedding in several processes (gloo on the CPU) gives one process's result.

``lightly.trainer.devices=2`` from ``lightly-run`` inside a Hydra sweep (``ddp_spawn``), and
two "nodes" on 127.0.0.1 started as two ``lightly-run`` processes with Lightning's cluster
variables (``MASTER_ADDR``, ``MASTER_PORT``, ``NODE_RANK``): each rank writes its own shards,
rank 0 publishes, and embeddings and selection equal a single process's.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest

from runner.config import TrainerConfig
from runner.embedding.ranks import launched_processes, launched_rank
from tests.conftest import FAST, LIGHTLY_RUN, Mounts, run_cli

CPU = ["lightly.trainer.accelerator=cpu"]
SLOW = 1800  # seconds: every spawned process imports torch again; generous on a shared machine


def _embeddings(run_dir: Path) -> dict[str, np.ndarray]:
    with (run_dir / "embeddings.csv").open() as f:
        rows = list(csv.reader(f))[1:]
    return {r[0]: np.array([float(v) for v in r[1:-1]], dtype=np.float32) for r in rows}


def _assert_same_result(run_dir: Path, reference: Path) -> None:
    mine, ref = _embeddings(run_dir), _embeddings(reference)
    assert sorted(mine) == sorted(ref) and len(mine) == 12
    for key, row in ref.items():
        np.testing.assert_allclose(mine[key], row, atol=2e-3)  # fp16 rows, other batching
    assert (run_dir / "selected_filenames.txt").read_text() == (
        reference / "selected_filenames.txt"
    ).read_text()


def _fresh(mounts: Mounts, name: str) -> Mounts:
    other = Mounts(mounts.input_mount, mounts.lightly_mount.parent / name, mounts.relative_path)
    other.lightly_dir.mkdir(parents=True)
    return other


def _runs(mounts: Mounts) -> list[Path]:
    return sorted(p for p in mounts.runs_dir.iterdir() if p.is_dir() and not p.is_symlink())


def _shard_ranks(mounts: Mounts) -> set[str]:
    shards = (mounts.lightly_dir / ".lightly/cache/embeddings").rglob("*.hashes.npy")
    return {part for p in shards for part in p.name.split("-") if part in ("r0", "r1")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_launched_rank_reads_the_launchers_variables() -> None:
    assert launched_rank({}) == 0
    assert launched_rank({"RANK": "3", "LOCAL_RANK": "1"}) == 3  # torchrun
    assert launched_rank({"NODE_RANK": "1", "LOCAL_RANK": "0"}) == 1  # Lightning's cluster env
    assert launched_rank({"SLURM_PROCID": "2", "SLURM_NTASKS": "1"}) == 0  # one task: main
    assert launched_rank({"SLURM_PROCID": "2", "SLURM_NTASKS": "4"}) == 2


def test_launched_processes_are_told_from_spawned_ones() -> None:
    assert not launched_processes(TrainerConfig(devices=2), {})  # ddp_spawn: our children
    assert not launched_processes(TrainerConfig(strategy="ddp"), {})  # one process
    assert launched_processes(TrainerConfig(num_nodes=2), {})
    assert launched_processes(TrainerConfig(devices=2, strategy="ddp"), {})
    assert launched_processes(TrainerConfig(), {"RANK": "0", "WORLD_SIZE": "2"})  # torchrun
    assert launched_processes(TrainerConfig(), {"SLURM_PROCID": "0", "SLURM_NTASKS": "2"})
    assert not launched_processes(TrainerConfig(), {"SLURM_PROCID": "0", "SLURM_NTASKS": "1"})


@pytest.mark.parametrize(
    "extra",
    [
        ["worker.enable_training=true"],
        ["selection.strategies=[{input:{type:EMBEDDINGS,task:det},strategy:{type:DIVERSITY}}]"],
    ],
)
def test_launched_ranks_refuse_training_and_crops_alike(
    mounts: Mounts, tmp_path: Path, extra: list[str]
) -> None:
    """Rank 0 and its helper stop in the same line before any work: none waits on the other."""
    args = [*mounts.overrides(), *FAST, *CPU, "selection.n_samples=4", *extra]
    cluster = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}
    for rank in ("1", "0"):
        done = run_cli(
            [*args, "lightly.trainer.num_nodes=2"], cwd=tmp_path, env={**cluster, "NODE_RANK": rank}
        )
        assert done.returncode == 2, done.stderr
        errors = [line for line in done.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and "cannot run in launched processes" in errors[0], done.stderr
        assert "lightly.trainer.devices=N" in errors[0] and "Traceback" not in done.stderr
    torchrun = run_cli(args, cwd=tmp_path, env={"RANK": "0", "WORLD_SIZE": "2"})
    assert torchrun.returncode == 2 and "cannot run in launched processes" in torchrun.stderr
    assert not mounts.runs_dir.exists() or not any(mounts.runs_dir.iterdir())


@pytest.mark.slow
def test_two_processes_and_two_nodes_give_one_process_result(
    mounts: Mounts, tmp_path: Path
) -> None:
    single = _fresh(mounts, "single")
    done = run_cli(
        [*single.overrides(), *FAST, *CPU, "selection.n_samples=4"], cwd=tmp_path, timeout=SLOW
    )
    assert done.returncode == 0, done.stderr
    reference = _runs(single)[0]

    # Two processes (ddp_spawn, gloo) from lightly-run, inside a Hydra sweep of two jobs.
    spawn = _fresh(mounts, "spawn")
    sweep = run_cli(
        [
            "-m",
            *spawn.overrides(),
            *FAST,
            *CPU,
            "lightly.trainer.devices=2",
            "selection.n_samples=4,4",
        ],
        cwd=tmp_path,
        timeout=SLOW,
    )
    assert sweep.returncode == 0, sweep.stderr
    runs = _runs(spawn)
    assert len(runs) == 2
    assert _shard_ranks(spawn) == {"r0", "r1"}  # each rank wrote its own shards
    for run_dir in runs:
        _assert_same_result(run_dir, reference)

    # Two nodes on 127.0.0.1: node 1 embeds its share and publishes nothing.
    nodes = _fresh(mounts, "nodes")
    args = [*nodes.overrides(), *FAST, *CPU, "selection.n_samples=4", "lightly.trainer.num_nodes=2"]
    cluster = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}
    helper = subprocess.Popen(
        [str(LIGHTLY_RUN), *args],
        cwd=tmp_path,
        env={**os.environ, **cluster, "NODE_RANK": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    main = run_cli(args, cwd=tmp_path, env={**cluster, "NODE_RANK": "0"}, timeout=SLOW)
    out, err = helper.communicate(timeout=SLOW)
    assert main.returncode == 0, main.stderr
    assert helper.returncode == 0, err
    assert "rank 1: embedded its share of 12 samples" in out
    assert len(_runs(nodes)) == 1
    assert _shard_ranks(nodes) == {"r0", "r1"}
    _assert_same_result(_runs(nodes)[0], reference)
