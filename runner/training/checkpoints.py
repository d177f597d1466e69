"""Training checkpoints: written in Lightly's layout, found again by path or by run id.

A checkpoint is a torch file holding only tensors and plain data, ``{"state_dict":
{"model.backbone.*", "model.projection_head.*"}, "epoch", "global_step", "hyper_parameters"}``
(the keys Lightly's CLI checkpoints use), so it loads with ``weights_only=True`` here and in
Lightly's own tools. Training writes it to ``.lightly/checkpoints/<run id>.ckpt`` and, as the
run's artifact, ``.lightly/runs/<run id>/checkpoint.ckpt``: the same bytes, so both have the
same fingerprint in the embedding cache key.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.atomic import atomic_write_bytes
from runner.config import WorkerConfig
from runner.errors import ConfigError
from runner.write_paths import contained

if TYPE_CHECKING:  # torch loads only when a checkpoint is written, not for every run
    import torch

CHECKPOINTS = "checkpoints"
RUN_ARTIFACT = "checkpoint.ckpt"
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def checkpoint_bytes(
    *,
    backbone: Mapping[str, torch.Tensor],
    head: Mapping[str, torch.Tensor],
    epoch: int,
    global_step: int,
    hyper_parameters: Mapping[str, Any],
) -> bytes:
    """Serialise a checkpoint; equal inputs give equal bytes (no file name or time inside).

    Args:
        backbone: The feature network's state_dict (keys as :func:`load_checkpoint` expects
            after the ``model.backbone.`` prefix).
        head: The projection head's state_dict.
        epoch: Epochs trained (the epoch whose weights these are, counted from 1).
        global_step: Optimiser steps taken up to these weights.
        hyper_parameters: Plain values (str, int, float, bool) describing the training.
    """
    state = {f"model.backbone.{k}": v.detach().cpu().clone() for k, v in backbone.items()}
    state |= {f"model.projection_head.{k}": v.detach().cpu().clone() for k, v in head.items()}
    buffer = io.BytesIO()  # a buffer's archive name is fixed, unlike a file's (its stem)
    import torch

    torch.save(
        {
            "state_dict": state,
            "epoch": epoch,
            "global_step": global_step,
            "hyper_parameters": dict(hyper_parameters),
        },
        buffer,
    )
    return buffer.getvalue()


def write_checkpoint(data: bytes, *, dot_lightly: Path, run_dir: Path, run_id: str) -> Path:
    """Write the checkpoint of run ``run_id`` and its run artifact; return the reusable one."""
    kept = contained(dot_lightly, CHECKPOINTS, f"{run_id}.ckpt")
    kept.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(kept, data)
    atomic_write_bytes(contained(run_dir, RUN_ARTIFACT), data)
    return kept


def write_last_checkpoint(data: bytes, *, dot_lightly: Path, run_id: str) -> Path:
    """``save_last``: the last epoch's weights beside the best ones."""
    path = contained(dot_lightly, CHECKPOINTS, f"{run_id}-last.ckpt")
    atomic_write_bytes(path, data)
    return path


def checkpoint_of_run(run_id: str, *, dot_lightly: Path) -> Path:
    """``worker.checkpoint_run_id``: the checkpoint an earlier training run wrote.

    Looks in ``.lightly/checkpoints/<run id>.ckpt``, then in that run's artifact
    ``.lightly/runs/<run id>/checkpoint.ckpt``.

    Raises:
        ConfigError: Not a run id, or no checkpoint of that run.
    """
    if not _RUN_ID.fullmatch(run_id):
        raise ConfigError(
            f"worker.checkpoint_run_id={run_id!r} is not a run id (letters, digits, - and _)"
        )
    candidates = [
        contained(dot_lightly, CHECKPOINTS, f"{run_id}.ckpt"),
        contained(dot_lightly, "runs", run_id, RUN_ARTIFACT),
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(
        f"worker.checkpoint_run_id={run_id}: no checkpoint of that run (looked for "
        f"{candidates[0]} and {candidates[1]}); only runs with worker.enable_training=true "
        "write one"
    )


def checkpoint_to_load(
    worker: WorkerConfig, *, lightly_dir: Path, dot_lightly: Path
) -> Path | None:
    """The checkpoint a run starts from: ``worker.checkpoint`` or ``worker.checkpoint_run_id``.

    ``worker.checkpoint`` is absolute or relative to the Lightly datasource.

    Raises:
        ConfigError: Both are set, or the file is missing.
    """
    if worker.checkpoint and worker.checkpoint_run_id:
        raise ConfigError(
            "worker.checkpoint and worker.checkpoint_run_id cannot both be set; keep one"
        )
    if worker.checkpoint_run_id:
        return checkpoint_of_run(worker.checkpoint_run_id, dot_lightly=dot_lightly)
    if not worker.checkpoint:
        return None
    value = Path(worker.checkpoint).expanduser()
    path = value if value.is_absolute() else lightly_dir / value
    if not path.is_file():
        raise ConfigError(f"worker.checkpoint not found: {path}")
    return path
