"""Model registry, offline weights, checkpoints, fingerprints, device and loader choices."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from runner.config import LoaderConfig, ModelConfig, TrainerConfig
from runner.embedding.datamodule import available_cpus, resolve_num_workers
from runner.embedding.device import plan_device
from runner.embedding.fuse import optimize_for_inference
from runner.embedding.models import build_backbone, load_checkpoint
from runner.embedding.specs import (
    LITE_MEAN,
    WeightsSource,
    get_spec,
    model_fingerprint,
    resolve_weights,
)
from runner.errors import ConfigError


def _random(name: str, seed: int = 1, size: int = 64) -> nn.Module:
    return build_backbone(name, WeightsSource(None, seed=seed), input_size=size).module


def _same_params(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_efficientnet_lite0_loads_its_packaged_weights_offline() -> None:
    weights = resolve_weights(ModelConfig(), seed=1)
    assert weights.path is not None and weights.path.name == "efficientnet-lite0-57934424.pth"
    backbone = build_backbone("efficientnet-lite0", weights, input_size=128)
    assert (backbone.embedding_dim, backbone.mean) == (1280, LITE_MEAN)
    assert not backbone.module.training
    with torch.inference_mode():
        features = backbone.module(torch.zeros(2, 3, 128, 128))
    assert features.shape == (2, 1280)
    assert not _same_params(backbone.module, _random("efficientnet-lite0"))


@pytest.mark.parametrize(("name", "dim"), [("resnet-18", 512), ("resnet-50", 2048)])
def test_resnets_give_pooled_features(name: str, dim: int) -> None:
    with torch.inference_mode():
        assert _random(name)(torch.zeros(1, 3, 64, 64)).shape == (1, dim)


@pytest.mark.parametrize("name", ["efficientnet-lite0", "resnet-18"])
def test_inference_rewrites_keep_the_function(name: str) -> None:
    plain = _random(name, seed=5, size=96)
    fast = optimize_for_inference(_random(name, seed=5, size=96))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    x = torch.randn(3, 3, 96, 96)
    with torch.inference_mode():
        expected = plain(x)
        for layout in (torch.contiguous_format, torch.channels_last):
            got = fast.to(memory_format=layout)(x.contiguous(memory_format=layout))
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_random_init_is_seeded() -> None:
    assert _same_params(_random("resnet-18", seed=3), _random("resnet-18", seed=3))
    assert not _same_params(_random("resnet-18", seed=3), _random("resnet-18", seed=4))
    weights = resolve_weights(ModelConfig(name="resnet-18", pretrained=False), seed=3)
    assert weights == WeightsSource(None, seed=3)


def test_unknown_model_suggests_the_closest_name() -> None:
    with pytest.raises(ConfigError, match="did you mean 'resnet-18'"):
        get_spec("resnet18")


def test_pretrained_resnet_without_local_file_says_where_and_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    with pytest.raises(ConfigError) as info:
        resolve_weights(ModelConfig(name="resnet-18"), seed=1)
    message = str(info.value)
    assert str(tmp_path / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert "lightly.model.weights=/path/to/file.pth" in message
    assert "lightly.model.pretrained=false" in message
    assert "\n" not in message


def test_pretrained_resnet_is_found_in_the_hub_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    import torchvision

    full = torchvision.models.resnet18(weights=None)  # with its fc: as torchvision ships it
    target = tmp_path / "checkpoints" / "resnet18-f37072fd.pth"
    target.parent.mkdir()
    torch.save(full.state_dict(), target)
    weights = resolve_weights(ModelConfig(name="resnet-18"), seed=1)
    assert weights.path == target
    loaded = build_backbone("resnet-18", weights, input_size=64).module
    assert torch.equal(loaded.state_dict()["conv1.weight"], full.state_dict()["conv1.weight"])


def test_configured_weights_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"lightly\.model\.weights="):
        resolve_weights(ModelConfig(name="resnet-18", weights=str(tmp_path / "x.pth")), seed=1)


@pytest.mark.parametrize("prefix", ["model.backbone.", "backbone.", ""])
def test_checkpoint_prefixes_load_into_resnet(tmp_path: Path, prefix: str) -> None:
    trained = _random("resnet-18", seed=7)
    state = {f"{prefix}{k}": v for k, v in trained.state_dict().items()}
    if prefix:
        state["model.projection_head.0.weight"] = torch.zeros(2, 2)
    path = tmp_path / "ckpt.ckpt"
    torch.save({"state_dict": state} if prefix else state, path)
    fresh = _random("resnet-18", seed=1)
    load_checkpoint(fresh, path)
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(fresh(x), trained(x))


def test_checkpoint_loads_into_efficientnet(tmp_path: Path) -> None:
    trained = _random("efficientnet-lite0", seed=7)
    inner = trained.net.state_dict()  # type: ignore[union-attr]
    path = tmp_path / "lite.ckpt"
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in inner.items()}}, path)
    fresh = _random("efficientnet-lite0", seed=1)
    load_checkpoint(fresh, path)
    assert _same_params(fresh, trained)


def test_checkpoint_of_another_model_names_the_bad_keys(tmp_path: Path) -> None:
    path = tmp_path / "r50.ckpt"
    torch.save(
        {
            "state_dict": {
                f"model.backbone.{k}": v for k, v in _random("resnet-50").state_dict().items()
            }
        },
        path,
    )
    with pytest.raises(
        ConfigError, match=r"worker\.checkpoint=.*does not fit.*unexpected layer1\.0\.bn3"
    ):
        load_checkpoint(_random("resnet-18"), path)


def test_unreadable_checkpoint_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "garbage.ckpt"
    path.write_bytes(b"not a torch file")
    with pytest.raises(ConfigError, match="not a readable torch file") as info:
        load_checkpoint(_random("resnet-18"), path)
    assert "\n" not in str(info.value)


def _fingerprint(
    *,
    name: str = "resnet-18",
    seed: int = 1,
    checkpoint: Path | None = None,
    input_size: int = 64,
    precision: str = "32-true",
    normalize: bool = True,
) -> str:
    return model_fingerprint(
        name=name,
        weights=WeightsSource(None, seed=seed),
        checkpoint=checkpoint,
        input_size=input_size,
        precision=precision,
        normalize=normalize,
    )


def test_fingerprint_covers_everything_that_changes_embeddings(tmp_path: Path) -> None:
    ckpt = tmp_path / "a.ckpt"
    ckpt.write_bytes(b"one")
    reference = _fingerprint()
    assert _fingerprint() == reference and len(reference) == 64
    prints = {
        _fingerprint(name="resnet-34"),
        _fingerprint(seed=2),
        _fingerprint(checkpoint=ckpt),
        _fingerprint(input_size=96),
        _fingerprint(precision="bf16-mixed"),
        _fingerprint(normalize=False),
    }
    assert len(prints) == 6 and reference not in prints
    with_ckpt = _fingerprint(checkpoint=ckpt)
    ckpt.write_bytes(b"two, longer")  # new bytes (and size): the memoised hash is not reused
    assert _fingerprint(checkpoint=ckpt) != with_ckpt


def test_device_plan_on_cpu() -> None:
    plan = plan_device(TrainerConfig(gpus=0))
    assert (plan.accelerator, plan.devices, plan.precision) == ("cpu", 1, "32-true")
    assert plan_device(TrainerConfig(accelerator="cpu", precision="bf16")).precision == "32-true"
    with pytest.raises(ConfigError, match="accelerator"):
        plan_device(TrainerConfig(accelerator="tpu"))
    with pytest.raises(ConfigError, match="precision"):
        plan_device(TrainerConfig(precision="8"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_asking_for_a_gpu_without_one_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no CUDA device"):
        plan_device(TrainerConfig(accelerator="gpu"))
    assert plan_device(TrainerConfig()).device_type == "cpu"  # auto falls back


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_device_plan_on_cuda_defaults_to_bf16() -> None:
    plan = plan_device(TrainerConfig())
    assert (plan.device_type, plan.devices, plan.strategy) == ("cuda", 1, "auto")
    assert plan.precision in ("bf16-mixed", "16-mixed")


def test_num_workers() -> None:
    assert resolve_num_workers(-1, n_batches=1000) == available_cpus()
    assert resolve_num_workers(-1, n_batches=1) == 1
    assert resolve_num_workers(8, n_batches=3) == 3
    assert resolve_num_workers(0, n_batches=3) == 0
    with pytest.raises(ConfigError, match="num_workers"):
        resolve_num_workers(-2, n_batches=3)
    assert LoaderConfig().num_workers == -1
