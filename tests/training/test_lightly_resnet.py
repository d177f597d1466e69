"""``lightly.model.num_ftrs`` / ``width``: Lightly's ResNet where they apply, else one line.

At Lightly's defaults (32, 1) the registered model is used as it is. Other values build the
backbone of Lightly's CLI (``ResNetGenerator(name, width)``, a 1x1 conv to ``num_ftrs``
channels), which trains, embeds and loads checkpoints of Lightly's layout.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from runner.config import LightlyConfig, ModelConfig
from runner.embedding.embed import embed
from runner.embedding.models import WeightsSource, build_backbone, feature_net, load_checkpoint
from runner.embedding.specs import LightlyResNet, lightly_resnet, model_fingerprint
from runner.errors import ConfigError
from runner.lightly_package import lightly_module
from tests.conftest import image_samples, tiny_training, train_samples, write_images

NAMES = [f"img_{i}.png" for i in range(8)]
SHAPE = LightlyResNet(width=2, num_ftrs=16)


def _cfg() -> LightlyConfig:
    cfg: LightlyConfig = tiny_training(seed=4, num_ftrs=16, width=2)
    return cfg


def test_lightlys_defaults_keep_the_model_other_values_ask_for_lightlys_resnet() -> None:
    assert lightly_resnet(ModelConfig(name="resnet-18")) is None
    assert lightly_resnet(ModelConfig()) is None  # the default EfficientNet, num_ftrs 32
    assert lightly_resnet(ModelConfig(name="resnet-50", num_ftrs=64)) == LightlyResNet(1, 64)
    assert lightly_resnet(ModelConfig(name="resnet-18", width=2)) == LightlyResNet(2, 32)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (ModelConfig(num_ftrs=64), "shapes Lightly's ResNets only, not efficientnet-lite0"),
        (ModelConfig(name="resnet-18", width=0), "lightly.model.width=0: must be a whole number"),
        (ModelConfig(name="resnet-18", width=2, weights="r18.pth"), "cannot fit"),
    ],
)
def test_where_they_cannot_apply_is_one_line(model: ModelConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        lightly_resnet(model)
    assert "\n" not in str(info.value)


def test_the_backbone_is_lightlys_cli_backbone() -> None:
    backbone = build_backbone(
        "resnet-18", WeightsSource(None, seed=1), input_size=32, architecture=SHAPE
    )
    assert backbone.embedding_dim == 16
    out = backbone.module(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, 16)
    # Lightly CLI's features (lightly/cli/train_cli.py), built with the lightly package: its
    # state_dict loads into ours key for key, so a checkpoint of Lightly's CLI fits.
    resnet = lightly_module("models").ResNetGenerator("resnet-18", 2)
    children = list(resnet.children())
    lightly_features = nn.Sequential(
        lightly_module("models.batchnorm").get_norm_layer(3, 0),
        *children[:-1],
        nn.Conv2d(children[-1].in_features, 16, 1),
        nn.AdaptiveAvgPool2d(1),
    )
    ours = feature_net(backbone.module).state_dict()
    theirs = lightly_features.state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)
    assert ours["1.weight"].shape[0] == 128  # width 2: twice ResNet-18's 64 stem channels
    plain = dict(
        name="resnet-18",
        weights=WeightsSource(None, 1),
        checkpoint=None,
        input_size=32,
        precision="32-true",
        normalize=True,
    )
    assert model_fingerprint(**plain) != model_fingerprint(**plain, architecture=SHAPE)


def test_lightlys_resnet_trains_and_embeds_with_num_ftrs_dimensions(tmp_path: Path) -> None:
    write_images(tmp_path / "images", NAMES)
    samples, hashes = image_samples(tmp_path / "images", NAMES)
    trained = train_samples(samples, _cfg(), root=tmp_path, run_id="r1")
    state = torch.load(trained.checkpoint, weights_only=True)
    assert state["hyper_parameters"]["num_ftrs"] == 16 and state["hyper_parameters"]["width"] == 2
    assert "model.backbone.7.weight" in state["state_dict"]  # the 1x1 conv, Lightly's layout
    loaded = build_backbone(
        "resnet-18", WeightsSource(None, seed=8), input_size=32, architecture=SHAPE
    )
    load_checkpoint(loaded.module, trained.checkpoint)
    embedded = embed(
        samples,
        content_hashes=hashes,
        cfg=_cfg(),
        checkpoint=str(trained.checkpoint),
        normalize=True,
        cache_dir=tmp_path / "cache",
    )
    assert embedded.embeddings.shape == (len(NAMES), 16)
    assert embedded.model["embedding_dim"] == 16
    assert "Lightly's resnet-18 (width 2, num_ftrs 16)" in str(embedded.model["provenance"])
