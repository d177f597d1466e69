"""What else the inspection's one decode of an image feeds: its thumbnail and model input.

The corruptness check decodes every new image fully; :class:`DecodeUses` takes that decoded,
upright RGB image and writes the Lightly thumbnail and spools the model input, so neither the
thumbnails stage nor the embedding pass decodes the file again. A failure here (disk full, say)
is logged and costs only the later decode it would have saved; it never marks the file corrupt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from runner.datasource.sample import Sample
from runner.decode.spool import SpoolWriter
from runner.decode.thumbnail import save_thumbnail, thumbnail_relpath
from runner.write_paths import contained

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThumbnailTarget:
    """Where Lightly's thumbnails go: the datasource, ``thumbnail_suffix`` and longest side."""

    lightly_dir: Path
    suffix: str
    size: int


@dataclass(frozen=True)
class DecodeUses:
    """The consumers of one decode besides the inspection itself (either may be None)."""

    thumbnails: ThumbnailTarget | None = None
    spool: SpoolWriter | None = None

    def __call__(self, sample: Sample, digest: str, upright: Image.Image) -> None:
        """Feed one decoded image (upright, RGB, loaded) to every consumer."""
        if self.thumbnails is not None and self.thumbnails.suffix:
            target = contained(
                self.thumbnails.lightly_dir, thumbnail_relpath(sample.key, self.thumbnails.suffix)
            )
            try:
                save_thumbnail(upright, target, key=sample.key, size=self.thumbnails.size)
            except OSError as exc:
                log.warning("thumbnail of %s not written during inspection: %s", sample.key, exc)
        if self.spool is not None:
            self.spool.put(digest, upright)
