"""Which model and weights make the embeddings, and the one line that says so."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from runner.config import ModelConfig
from runner.embedding.model_choice import DEFAULT_MODEL, resolve_model
from runner.errors import ConfigError


@pytest.fixture
def empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "_hub_dir", str(hub))
    return hub


def test_local_torchvision_weights_are_used_and_named(empty_hub: Path) -> None:
    import torchvision

    url = torchvision.models.ResNet18_Weights.DEFAULT.url
    local = empty_hub / "checkpoints" / Path(url).name
    local.parent.mkdir(parents=True)
    local.write_bytes(b"weights")  # resolving never loads the file
    model = resolve_model(ModelConfig(name="resnet-18"), seed=1)
    assert (model.name, model.requested, model.notice) == ("resnet-18", "resnet-18", None)
    assert model.weights.path == local and str(local) in model.provenance


def test_without_local_weights_the_default_model_stands_in_with_a_notice(empty_hub: Path) -> None:
    model = resolve_model(ModelConfig(name="resnet-18"), seed=1)
    assert model.name == DEFAULT_MODEL and model.requested == "resnet-18"
    assert model.notice is not None and "\n" not in model.notice
    assert "resnet-18" in model.notice and DEFAULT_MODEL in model.notice
    assert "lightly.model.weights=" in model.notice
    assert model.provenance.startswith(f"{DEFAULT_MODEL} with pretrained weights from ")


def test_a_checkpoint_replaces_the_missing_pretrained_weights(empty_hub: Path) -> None:
    model = resolve_model(ModelConfig(name="resnet-18"), seed=3, checkpoint="/x/model.ckpt")
    assert model.name == "resnet-18" and model.notice is None
    assert model.weights.path is None and "worker.checkpoint /x/model.ckpt" in model.provenance


def test_random_weights_and_missing_files_are_as_configured(
    empty_hub: Path, tmp_path: Path
) -> None:
    model = resolve_model(ModelConfig(name="resnet-50", pretrained=False), seed=4)
    assert model.name == "resnet-50" and model.provenance == "resnet-50 with random init (seed 4)"
    with pytest.raises(ConfigError, match="no such file"):
        resolve_model(ModelConfig(name="resnet-18", weights=str(tmp_path / "x.pth")), seed=1)
    with pytest.raises(ConfigError, match="unknown"):
        resolve_model(ModelConfig(name="resnet-19"), seed=1)
