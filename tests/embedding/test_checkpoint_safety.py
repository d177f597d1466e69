"""``worker.checkpoint`` never runs code from the file: weights only, a few Lightning types."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from runner.embedding.models import build_backbone, load_checkpoint
from runner.embedding.specs import WeightsSource
from runner.embedding.state_files import read_state_dict
from runner.errors import ConfigError
from tests.conftest import FAST, Mounts, run_cli


class _Evil:
    """Unpickling this runs ``touch <marker>``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def _malicious_files(tmp_path: Path) -> tuple[Path, list[Path]]:
    marker = tmp_path / "MARKER"
    plain = tmp_path / "plain_pickle.ckpt"
    with plain.open("wb") as f:
        pickle.dump({"state_dict": {"w": _Evil(marker)}}, f)
    zipped = tmp_path / "torch_save.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": _Evil(marker)}, zipped)
    return marker, [plain, zipped]


def test_a_malicious_checkpoint_is_refused_without_running_it(tmp_path: Path) -> None:
    marker, files = _malicious_files(tmp_path)
    for path in files:
        with pytest.raises(ConfigError) as info:
            read_state_dict(path, setting="worker.checkpoint")
        message = str(info.value)
        assert "\n" not in message
        assert "torch.save(model.state_dict(), path)" in message
        assert "unpickled" in message
    assert not marker.exists()


def test_a_lightning_checkpoint_with_hydra_hyper_parameters_loads(tmp_path: Path) -> None:
    backbone = build_backbone("resnet-18", WeightsSource(None, seed=7), input_size=64).module
    ckpt = {
        "epoch": 3,
        "global_step": 10,
        "pytorch-lightning_version": "2.5.0",
        "state_dict": {f"backbone.{k}": v for k, v in backbone.state_dict().items()},
        "hyper_parameters": {"lr": 0.1, "name": "resnet-18"},
        "datamodule_hyper_parameters": OmegaConf.create({"batch": 8, "model": {"name": "x"}}),
        "callbacks": {"ModelCheckpoint": {"best_model_score": torch.tensor(0.5)}},
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}]}],
    }
    path = tmp_path / "lightning.ckpt"
    torch.save(ckpt, path)
    fresh = build_backbone("resnet-18", WeightsSource(None, seed=1), input_size=64).module
    load_checkpoint(fresh, path)
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in backbone.state_dict().items())


@pytest.mark.slow
def test_cli_refuses_a_malicious_checkpoint_in_one_line(mounts: Mounts, tmp_path: Path) -> None:
    marker, files = _malicious_files(mounts.lightly_dir)
    result = run_cli(
        [
            *mounts.overrides(),
            *FAST,
            "selection.n_samples=3",
            "lightly.model.name=resnet-18",
            "lightly.model.pretrained=false",
            f"worker.checkpoint={files[0].name}",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "unpickled" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()
