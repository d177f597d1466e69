"""SimCLR's two augmented views of each image, from the ``lightly`` package's transform.

:class:`SimCLRViews` is a :class:`~runner.embedding.transforms.Preprocess` whose call returns
both views stacked, ``(2, 3, S, S)``, so the embedding pass's datasets (images, and video
frames decoded chunk by chunk) serve training batches unchanged.
"""

from __future__ import annotations

import torch
from PIL import Image

from runner.config import CollateConfig
from runner.embedding.transforms import RGB, Preprocess
from runner.lightly_package import lightly_module

# Lightly CLI's blur sigmas when ``collate.sigmas`` is not set (its config.yaml: [0.2, 2]).
DEFAULT_SIGMAS = (0.2, 2.0)
# Views are random crops of the decoded image: decode at twice their side so that a crop of
# ``min_scale`` of the area still has real pixels to resample.
DECODE_SCALE = 2


class SimCLRViews(Preprocess):
    """Two views per image with Lightly's ``SimCLRTransform`` and the backbone's normalisation.

    Args:
        collate: ``lightly.collate``: ``input_size`` and Lightly's augmentation keys.
        mean: The backbone's input mean on the [0, 1] scale.
        std: The backbone's input standard deviation on the [0, 1] scale.
    """

    def __init__(self, collate: CollateConfig, *, mean: RGB, std: RGB) -> None:
        super().__init__(size=collate.input_size * DECODE_SCALE, mean=mean, std=std)
        self.input_size = collate.input_size
        transforms = lightly_module("transforms")
        sigmas = tuple(collate.sigmas) if collate.sigmas else DEFAULT_SIGMAS
        rr_degrees = collate.rr_degrees
        self.transform = transforms.SimCLRTransform(
            input_size=collate.input_size,
            cj_prob=collate.cj_prob,
            cj_bright=collate.cj_bright,
            cj_contrast=collate.cj_contrast,
            cj_sat=collate.cj_sat,
            cj_hue=collate.cj_hue,
            min_scale=collate.min_scale,
            random_gray_scale=collate.random_gray_scale,
            gaussian_blur=collate.gaussian_blur,
            kernel_size=collate.kernel_size,
            sigmas=sigmas,
            vf_prob=collate.vf_prob,
            hf_prob=collate.hf_prob,
            rr_prob=collate.rr_prob,
            rr_degrees=tuple(rr_degrees) if rr_degrees else None,
            normalize={"mean": list(mean), "std": list(std)},
        )

    def __call__(self, image: Image.Image) -> torch.Tensor:
        """Two random views of ``image``: float32 ``(2, 3, S, S)``."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        views = self.transform(image)
        return torch.stack([views[0], views[1]])

    def blank(self) -> torch.Tensor:
        """Zero views, standing in for an image that failed to decode."""
        return torch.zeros(2, 3, self.input_size, self.input_size, dtype=torch.float32)
