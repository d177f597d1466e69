"""The training stage in process: SimCLR for one epoch on a handful of real photos."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from tqdm import tqdm

from runner.config import FinetuneConfig, LightlyConfig
from runner.console import console_progress
from runner.embedding.models import WeightsSource, build_backbone, feature_net, load_checkpoint
from runner.errors import ConfigError
from runner.progress import NO_PROGRESS, StageProgress
from runner.training.checkpoints import checkpoint_bytes
from runner.training.checks import check_finetune, layer_count
from runner.training.finetune import backbone_layers, prepare_finetune
from runner.training.options import training_options
from runner.training.train import TrainedBackbone
from tests.conftest import image_samples, tiny_training, train_samples, write_images

NAMES = [f"img_{i}.png" for i in range(8)]


def _cfg(**lightly: object) -> LightlyConfig:
    cfg: LightlyConfig = tiny_training(seed=3)
    for key, value in lightly.items():
        section, name = key.split("__")
        setattr(getattr(cfg, section), name, value)
    return cfg


def _train(
    tmp_path: Path,
    run_id: str,
    cfg: LightlyConfig | None = None,
    progress: StageProgress = NO_PROGRESS,
) -> TrainedBackbone:
    folder = tmp_path / "images"
    if not folder.exists():
        write_images(folder, NAMES)
    samples, _ = image_samples(folder, NAMES)
    trained: TrainedBackbone = train_samples(
        samples, cfg or _cfg(), root=tmp_path, run_id=run_id, progress=progress
    )
    return trained


def test_one_epoch_writes_a_weights_only_checkpoint_that_loads(tmp_path: Path) -> None:
    terminal = io.StringIO()
    with console_progress(terminal, interactive=True).stage("train") as progress:
        trained = _train(tmp_path, "run-a", progress=progress)
    assert trained.checkpoint == tmp_path / "checkpoints" / "run-a.ckpt"
    artifact = tmp_path / "runs" / "run-a" / "checkpoint.ckpt"
    assert artifact.read_bytes() == trained.checkpoint.read_bytes()
    state = torch.load(trained.checkpoint, weights_only=True)["state_dict"]
    assert any(k.startswith("model.backbone.") for k in state)
    assert any(k.startswith("model.projection_head.") for k in state)
    summary = trained.summary
    assert summary["epochs"] == 1 and summary["steps"] == 2  # 8 images, batches of 4
    assert summary["device"] == "cpu" and len(summary["epoch_losses"]) == 1
    assert summary["epoch_losses"][0] > 0
    # the bar shows the epoch and its running mean loss, as Lightning's bar shows the loss
    bar = terminal.getvalue().split("\r")[-1]
    assert "train: 100%|" in bar and "| 2/2 [" in bar
    loss = tqdm.format_num(summary["epoch_losses"][0])
    assert bar.rstrip().endswith(f"epoch=1/1, loss={loss}]"), bar
    untrained = build_backbone("resnet-18", WeightsSource(None, seed=3), input_size=32).module
    loaded = build_backbone("resnet-18", WeightsSource(None, seed=99), input_size=32).module
    load_checkpoint(loaded, trained.checkpoint)
    before, after = untrained.state_dict(), feature_net(loaded).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "training changed nothing"


def test_the_same_seed_gives_the_same_checkpoint_bytes(tmp_path: Path) -> None:
    first = _train(tmp_path, "run-a").checkpoint.read_bytes()
    second = _train(tmp_path, "run-b").checkpoint.read_bytes()
    assert first == second
    changed = _cfg()
    changed.optimizer = {"lr": 0.01}
    assert _train(tmp_path, "run-d", changed).checkpoint.read_bytes() != first


def test_fewer_samples_than_one_batch_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fewer than one batch") as info:
        _train(tmp_path, "run-a", _cfg(loader__batch_size=16))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("section", "value", "message"),
    [
        ("criterion", {"temperature": 0}, "lightly.criterion.temperature=0: must be > 0"),
        ("criterion", {"memory_bank_size": 4096}, "memory_bank_size=4096 is not supported"),
        ("optimizer", {"momentum": 0.9}, "lightly.optimizer.momentum is unknown"),
        ("optimizer", {"lr": "fast"}, "lightly.optimizer.lr='fast': expected a number"),
        ("checkpoint_callback", {"save_top_k": 3}, "save_top_k=3 is not supported"),
    ],
)
def test_bad_training_keys_are_named(section: str, value: dict[str, object], message: str) -> None:
    cfg = _cfg()
    setattr(cfg, section, value)
    with pytest.raises(ConfigError) as info:
        training_options(cfg)
    assert message in str(info.value)


def test_equal_weights_give_equal_checkpoint_bytes() -> None:
    weights = {"w": torch.arange(6.0).reshape(2, 3)}
    args = {"head": {}, "epoch": 1, "global_step": 2, "hyper_parameters": {"model": "x"}}
    assert checkpoint_bytes(backbone=weights, **args) == checkpoint_bytes(
        backbone={"w": weights["w"].clone()}, **args
    )


def _prepared(cfg: FinetuneConfig, *, pretrained: bool = True) -> torch.nn.Module:
    """A ResNet-18 prepared for fine-tuning, after one SGD step in train mode."""
    net = build_backbone("resnet-18", WeightsSource(None, seed=3), input_size=32).module
    prepare_finetune(net, cfg, pretrained=pretrained)
    net.train()
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.1) if params else None
    out = net(torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    if optimizer is not None:  # nothing trains: the forward pass alone must change nothing
        out.sum().backward()
        optimizer.step()
    return net


def _changed(net: torch.nn.Module) -> set[str]:
    before = build_backbone("resnet-18", WeightsSource(None, seed=3), input_size=32).module
    old, new = before.state_dict(), net.state_dict()
    return {k for k in old if not torch.equal(old[k], new[k])}


def test_frozen_layers_keep_their_weights_and_statistics() -> None:
    changed = _changed(_prepared(FinetuneConfig(trainable_layers=1, freeze_batch_norm=False)))
    assert changed, "training changed nothing"
    assert all(k.startswith("layer4.") for k in changed), sorted(changed)[:3]
    assert any(k.endswith("running_mean") for k in changed)  # the trained layer's BN learns


def test_frozen_batch_norm_keeps_every_statistic() -> None:
    changed = _changed(_prepared(FinetuneConfig(trainable_layers=-1, freeze_batch_norm=True)))
    assert any(k.startswith("conv1.") for k in changed)  # every layer trains
    assert not any(k.endswith(("running_mean", "running_var")) for k in changed)


def test_no_trainable_layer_leaves_the_backbone_as_it_was() -> None:
    assert not _changed(_prepared(FinetuneConfig(trainable_layers=0)))


def test_random_weights_train_every_layer() -> None:
    changed = _changed(_prepared(FinetuneConfig(trainable_layers=0), pretrained=False))
    assert any(k.startswith("conv1.") for k in changed)


def test_efficientnet_layers_cover_every_weight_once() -> None:
    net = build_backbone("efficientnet-lite0", WeightsSource(None, seed=0), input_size=32).module
    layers = backbone_layers(net)
    assert len(layers) == layer_count("efficientnet-lite0") == 9
    ids = [id(p) for layer in layers for p in layer.parameters()]
    assert len(ids) == len(set(ids)) == len(list(net.parameters()))


@pytest.mark.parametrize("value", [-2, 6])
def test_a_layer_count_the_model_lacks_is_one_line(value: int) -> None:
    with pytest.raises(ConfigError, match=r"trainable_layers=.*resnet-18 has 5 layers") as info:
        check_finetune(FinetuneConfig(trainable_layers=value), "resnet-18")
    assert "\n" not in str(info.value)
