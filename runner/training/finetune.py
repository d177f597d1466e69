"""What fine-tuning trains: the backbone's last layers, the earlier ones kept as pretrained.

SimCLR from a pretrained backbone on a few hundred images is continued pretraining on a small
domain, not pretraining: training every weight at a from-scratch learning rate distorts the
pretrained features before the contrastive objective has converged (Kumar et al., 2022,
"Fine-Tuning can Distort Pretrained Features and Underperform Out-of-Distribution"). The
field's remedies, used here: keep the early, generic layers frozen and adapt the last ones
(Yosinski et al., 2014, "How transferable are features in deep neural networks?"; Lee et al.,
2023, "Surgical Fine-Tuning Improves Adaptation to Distribution Shifts"), start the
self-supervised stage from the pretrained model rather than from scratch (Reed et al., 2022,
"Self-Supervised Pretraining Improves Self-Supervised Pretraining", HPT), and keep batch-norm
statistics frozen when batches are small (as torchvision's detection backbones do with
``FrozenBatchNorm2d`` and ``trainable_backbone_layers``, whose counting from the output this
module follows).

A *layer* is one of the backbone's stages, from input to output: EfficientNet-Lite0's stem,
its seven MBConv stages and its head convolution (9); a ResNet's stem and ``layer1-4`` (5).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from runner.config import FinetuneConfig
from runner.embedding.models import feature_net

log = logging.getLogger(__name__)


def backbone_layers(backbone: nn.Module) -> list[nn.Module]:
    """The backbone's layers from input to output (see the module docstring)."""
    net = feature_net(backbone)
    blocks = getattr(net, "_blocks", None)
    if blocks is not None:  # EfficientNet: blocks grouped into stages by their output width
        stages: list[list[nn.Module]] = []
        width = None
        for block in blocks:
            if block._block_args.output_filters != width:
                width = block._block_args.output_filters
                stages.append([])
            stages[-1].append(block)
        return [
            _group(net, "_conv_stem", "_bn0"),
            *(nn.ModuleList(stage) for stage in stages),
            _group(net, "_conv_head", "_bn1"),
        ]
    if hasattr(net, "layer4"):  # torchvision's ResNets
        return [_group(net, "conv1", "bn1"), *(net.get_submodule(f"layer{i}") for i in range(1, 5))]
    return [net]  # Lightly's CLI ResNet (trained from random weights): one layer, all of it


def _group(net: nn.Module, *names: str) -> nn.Module:
    return nn.ModuleList([net.get_submodule(name) for name in names])


@dataclass(frozen=True)
class FinetunePlan:
    """What :func:`prepare_finetune` set up, for the log and the report.

    Attributes:
        trainable_layers: Layers that train, counted from the output.
        layers: The backbone's layer count.
        trainable_weights: Backbone parameters (scalars) that train.
        weights: Backbone parameters (scalars) in all.
        freeze_batch_norm: The trained layers' batch norms keep their statistics too.
    """

    trainable_layers: int
    layers: int
    trainable_weights: int
    weights: int
    freeze_batch_norm: bool

    def describe(self) -> str:
        bn = "frozen" if self.freeze_batch_norm else "trained in the trained layers"
        return (
            f"training the last {self.trainable_layers} of {self.layers} backbone layers "
            f"({self.trainable_weights:,} of {self.weights:,} weights), batch-norm statistics "
            f"{bn}"
        )


def prepare_finetune(backbone: nn.Module, cfg: FinetuneConfig, *, pretrained: bool) -> FinetunePlan:
    """Freeze what ``cfg`` keeps of ``backbone`` (in place) before training.

    Frozen layers stop receiving gradients, and every batch norm whose statistics are kept
    is put back in eval mode before each forward pass (Lightning switches the whole model to
    train mode at the start of fitting). A backbone that starts from random weights
    (``pretrained`` false) has nothing to keep: every layer and statistic trains.
    """
    layers = backbone_layers(backbone)
    if not pretrained:
        cfg = FinetuneConfig(trainable_layers=-1, freeze_batch_norm=False)
    wanted = len(layers) if cfg.trainable_layers < 0 else cfg.trainable_layers
    trained = min(wanted, len(layers))
    frozen = layers[: len(layers) - trained]
    for layer in frozen:
        layer.requires_grad_(False)
    kept: Sequence[nn.Module] = [
        m
        for m in (backbone.modules() if cfg.freeze_batch_norm else nn.ModuleList(frozen).modules())
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    frozen_modules = list(nn.ModuleList(frozen).modules())

    def keep_eval(module: nn.Module, inputs: object) -> None:
        del module, inputs
        for m in (*frozen_modules, *kept):
            m.eval()  # frozen layers: no dropout or drop-connect; kept statistics unchanged

    if frozen_modules or kept:
        backbone.register_forward_pre_hook(keep_eval)
    params = list(backbone.parameters())
    plan = FinetunePlan(
        trainable_layers=trained,
        layers=len(layers),
        trainable_weights=sum(p.numel() for p in params if p.requires_grad),
        weights=sum(p.numel() for p in params),
        freeze_batch_norm=cfg.freeze_batch_norm,
    )
    log.info("train: %s", plan.describe())
    return plan
