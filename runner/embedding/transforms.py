"""Preprocessing for embedding: a decoded RGB image to a normalised ``(3, S, S)`` tensor."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from runner.decode.spool import model_pixels

RGB = tuple[float, float, float]


class Preprocess:
    """Squash-resize to ``S x S`` (PIL bilinear, antialiased), scale to [0, 1], normalise.

    Matches Lightly's embedding transform (``Resize((S, S))``, ``ToTensor``, ``Normalize``).
    Instances are picklable, so DataLoader workers run them.

    Args:
        size: Output side ``S`` in pixels (``lightly.collate.input_size``).
        mean: Per-channel mean the model was trained with, on the [0, 1] scale.
        std: Per-channel standard deviation, on the [0, 1] scale.
    """

    def __init__(self, *, size: int, mean: RGB, std: RGB) -> None:
        self.size = size
        self.mean = mean
        self.std = std
        self._mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)  # (3, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)  # (3, 1, 1)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        """Return the model input for ``image``: float32 ``(3, S, S)``."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        return self.from_pixels(model_pixels(image, self.size))

    def from_pixels(self, pixels: np.ndarray) -> torch.Tensor:
        """Normalise resized pixels ((S, S, 3) uint8, e.g. from the spool) to (3, S, S)."""
        tensor = torch.from_numpy(np.array(pixels, dtype=np.uint8))  # (S, S, 3), writable copy
        tensor = tensor.permute(2, 0, 1).to(torch.float32).div_(255.0)  # (3, S, S) in [0, 1]
        return tensor.sub_(self._mean).div_(self._std)

    def blank(self) -> torch.Tensor:
        """A zero input, standing in for an image that failed to decode."""
        return torch.zeros(3, self.size, self.size, dtype=torch.float32)
