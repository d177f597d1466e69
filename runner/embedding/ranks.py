"""Which process of a multi-process embedding this is, before Lightning is loaded.

With ``lightly.trainer.strategy=ddp_spawn`` (the default for several processes) one
``lightly-run`` starts every local process itself. On several nodes, and under torchrun or a
cluster scheduler (``strategy=ddp``), every process runs ``lightly-run`` on its own; the
launcher tells each its rank through the environment (torchrun: ``RANK``; Lightning's cluster
variables: ``NODE_RANK``, ``LOCAL_RANK``; SLURM: ``SLURM_PROCID`` with several tasks). Only
rank 0 publishes a run; every other process prepares the same samples, embeds its share into
the shared cache and exits (:func:`runner.pipeline.embed_share`). Such launched runs embed
whole samples with the configured model only (:func:`launched_processes` tells them apart
from ``ddp_spawn``'s children; training and crops are refused in validation).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from runner.config import TrainerConfig


def _int(env: Mapping[str, str], name: str) -> int:
    value = env.get(name, "").strip()
    return int(value) if value.isdigit() else 0


def launched_rank(env: Mapping[str, str] | None = None) -> int:
    """This process's rank as its launcher set it (0 when none did, or for the main process).

    A non-zero node rank counts even for the node's first process: on node ``k`` the main
    ``lightly-run`` is a helper of the run that node 0 publishes.
    """
    env = os.environ if env is None else env
    slurm = _int(env, "SLURM_PROCID") if _int(env, "SLURM_NTASKS") > 1 else 0
    return max(_int(env, "RANK"), _int(env, "NODE_RANK"), _int(env, "LOCAL_RANK"), slurm)


def launched_processes(trainer: TrainerConfig, env: Mapping[str, str] | None = None) -> bool:
    """Whether other ``lightly-run`` processes take part, each started by a launcher or on
    another node (as opposed to ``ddp_spawn``'s children of this one).

    True with ``num_nodes`` > 1, ``strategy: ddp`` for several devices, a launcher's rank
    variables, torchrun's ``WORLD_SIZE`` > 1, or SLURM with several tasks (rank 0 included:
    its helpers see the same).
    """
    env = os.environ if env is None else env
    return (
        trainer.num_nodes > 1
        or (trainer.strategy == "ddp" and trainer.devices != 1)
        or launched_rank(env) > 0
        or _int(env, "WORLD_SIZE") > 1
        or _int(env, "SLURM_NTASKS") > 1
    )
