"""Where and in which precision the embedding pass runs, decided once before it starts.

Deciding this imports torch only when a GPU might be asked for: a run on the CPU (``gpus: 0``,
``accelerator: cpu``, or ``auto`` on a machine without NVIDIA device nodes) plans, finds its
embeddings cached and finishes without loading torch at all.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace

from runner.config import TrainerConfig
from runner.errors import ConfigError

_ACCELERATORS = ("auto", "cpu", "gpu", "cuda")
STRATEGIES = ("auto", "ddp_spawn", "ddp")
"""``lightly.trainer.strategy`` values (see :func:`plan_device`)."""
# lightly.trainer.precision values -> Lightning precision on CUDA ("auto" is decided below).
_CUDA_PRECISION = {
    "32": "32-true",
    "32-true": "32-true",
    "16": "16-mixed",
    "16-mixed": "16-mixed",
    "bf16": "bf16-mixed",
    "bf16-mixed": "bf16-mixed",
}


@dataclass(frozen=True)
class DevicePlan:
    """Trainer arguments plus the facts recorded in ``report.json``.

    Attributes:
        accelerator: Lightning accelerator (``cpu`` or ``gpu``).
        device_type: ``cpu`` or ``cuda``.
        devices: Processes per node (one device each; on the CPU, one process each).
        num_nodes: Machines taking part (``lightly.trainer.num_nodes``).
        strategy: ``auto`` for one process in all, else ``ddp_spawn`` (shards reach the parent
            process as files; Hydra multiruns stay intact) or ``ddp`` (processes started by
            torchrun or a cluster scheduler).
        precision: Lightning precision string, e.g. ``bf16-mixed`` or ``32-true``.
    """

    accelerator: str
    device_type: str
    devices: int
    strategy: str
    precision: str
    num_nodes: int = 1

    @property
    def world_size(self) -> int:
        """Processes embedding at once, over all nodes."""
        return self.devices * self.num_nodes

    def single(self) -> DevicePlan:
        """The same device and precision in this one process."""
        return replace(self, devices=1, num_nodes=1, strategy="auto")


def _cuda_precision(requested: str) -> str:
    if requested == "auto":
        import torch

        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return _CUDA_PRECISION[requested]


def cuda_available() -> bool:
    """``torch.cuda.is_available()``, without importing torch where no GPU can exist.

    On Linux a CUDA device needs the NVIDIA driver, which announces itself in
    ``/proc/driver/nvidia/version``; without it the answer is False and torch stays unloaded
    (the same rule as the selection's backend choice). Elsewhere torch is asked.
    """
    if sys.platform.startswith("linux") and "torch" not in sys.modules:
        if not os.path.exists("/proc/driver/nvidia/version"):
            return False
    import torch

    return bool(torch.cuda.is_available())


def _strategy(trainer: TrainerConfig, world_size: int) -> str:
    strategy = trainer.strategy
    if strategy not in STRATEGIES:
        raise ConfigError(
            f"lightly.trainer.strategy={strategy!r}: use one of {', '.join(STRATEGIES)}"
        )
    if world_size == 1:
        return "auto"
    return "ddp_spawn" if strategy == "auto" else strategy


def plan_device(trainer: TrainerConfig) -> DevicePlan:
    """Resolve ``lightly.trainer`` to a concrete device, process layout and precision.

    ``accelerator: auto`` picks CUDA when a device is visible; Lightly's ``gpus: 0`` forces
    the CPU. The CPU always runs in float32 (deterministic, and bf16 is rarely faster there);
    ``devices: N`` there means N processes (gloo), ``-1`` one. Several processes use
    ``ddp_spawn`` unless ``strategy: ddp`` says they were started by torchrun or a scheduler.

    Raises:
        ConfigError: Unknown accelerator, precision or strategy, a bad process count, or a
            GPU asked for but not visible.
    """
    accelerator = trainer.accelerator.lower()
    if accelerator not in _ACCELERATORS:
        choices = ", ".join(_ACCELERATORS)
        raise ConfigError(
            f"lightly.trainer.accelerator={trainer.accelerator!r}: use one of {choices}"
        )
    if trainer.precision not in (*_CUDA_PRECISION, "auto"):
        raise ConfigError(
            f"lightly.trainer.precision={trainer.precision!r}: use auto, 32, 16 or bf16"
        )
    if trainer.devices < -1 or trainer.devices == 0:
        raise ConfigError(f"lightly.trainer.devices={trainer.devices}: use -1 (all) or >= 1")
    if trainer.num_nodes < 1:
        raise ConfigError(f"lightly.trainer.num_nodes={trainer.num_nodes}: must be >= 1")
    wants_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and cuda_available())
    if trainer.gpus == 0 or not wants_gpu:
        devices = max(trainer.devices, 1)
        strategy = _strategy(trainer, devices * trainer.num_nodes)
        return DevicePlan("cpu", "cpu", devices, strategy, "32-true", trainer.num_nodes)
    if not cuda_available():
        raise ConfigError(
            f"lightly.trainer.accelerator={trainer.accelerator} but no CUDA device is visible; "
            "use lightly.trainer.accelerator=auto or cpu"
        )
    import torch

    visible = torch.cuda.device_count()
    devices = visible if trainer.devices == -1 else trainer.devices
    if not 1 <= devices <= visible:
        raise ConfigError(
            f"lightly.trainer.devices={trainer.devices}: {visible} CUDA device(s) visible"
        )
    strategy = _strategy(trainer, devices * trainer.num_nodes)
    precision = _cuda_precision(trainer.precision)
    return DevicePlan("gpu", "cuda", devices, strategy, precision, trainer.num_nodes)
