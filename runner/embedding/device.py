"""Where and in which precision the embedding pass runs, decided once before it starts."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from runner.config import TrainerConfig
from runner.errors import ConfigError

_ACCELERATORS = ("auto", "cpu", "gpu", "cuda")
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
        devices: Number of devices (one process each).
        strategy: ``auto`` for one device, ``ddp_spawn`` for several (shards reach the parent
            process as files; Hydra multiruns stay intact).
        precision: Lightning precision string, e.g. ``bf16-mixed`` or ``32-true``.
    """

    accelerator: str
    device_type: str
    devices: int
    strategy: str
    precision: str


def _cuda_precision(requested: str) -> str:
    if requested == "auto":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return _CUDA_PRECISION[requested]


def plan_device(trainer: TrainerConfig) -> DevicePlan:
    """Resolve ``lightly.trainer`` to a concrete device and precision.

    ``accelerator: auto`` picks CUDA when a device is visible; Lightly's ``gpus: 0`` forces
    the CPU. The CPU always runs one process in float32 (deterministic, and bf16 is rarely
    faster there).

    Raises:
        ConfigError: Unknown accelerator or precision, or a GPU asked for but not visible.
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
    wants_gpu = accelerator in ("gpu", "cuda") or (
        accelerator == "auto" and torch.cuda.is_available()
    )
    if trainer.gpus == 0 or not wants_gpu:
        return DevicePlan("cpu", "cpu", 1, "auto", "32-true")
    if not torch.cuda.is_available():
        raise ConfigError(
            f"lightly.trainer.accelerator={trainer.accelerator} but no CUDA device is visible; "
            "use lightly.trainer.accelerator=auto or cpu"
        )
    visible = torch.cuda.device_count()
    devices = visible if trainer.devices == -1 else trainer.devices
    if not 1 <= devices <= visible:
        raise ConfigError(
            f"lightly.trainer.devices={trainer.devices}: {visible} CUDA device(s) visible"
        )
    strategy = "auto" if devices == 1 else "ddp_spawn"
    return DevicePlan("gpu", "cuda", devices, strategy, _cuda_precision(trainer.precision))
