"""Export a tag for labelling: filenames, read URLs served by ``lightly-serve``, Label Studio tasks.

Lightly's ``export_filenames_and_read_urls_by_tag_name`` returns records with ``fileName``,
``readUrl`` and ``datasourceUrl``; for a local datasource the read URL is
``{web_server_location}/{path under the mount}``, which ``lightly-serve`` answers (it tries the
input mount, then the Lightly mount). Images are read from the input datasource; a selected video
frame is read from ``.lightly/frames/`` of the Lightly datasource, where the run wrote it.
Label Studio tasks follow Lightly's export (``{"id", "data": {"image", "lightlyFileName"}}``,
https://labelstud.io/guide/tasks.html#Basic-Label-Studio-JSON-format).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from runner.datasource.lightly_dir import DOT_LIGHTLY


@dataclass(frozen=True)
class ServedFolders:
    """Where the files of a tag live and the URL ``lightly-serve`` serves them under.

    Attributes:
        input_dir: The input datasource folder.
        input_relative: Its path under the input mount (``datasource.input.relative_path``).
        lightly_dir: The Lightly datasource folder.
        lightly_relative: Its path under the Lightly mount.
        web_server_location: ``datasource.web_server_location``.
    """

    input_dir: Path
    input_relative: str
    lightly_dir: Path
    lightly_relative: str
    web_server_location: str

    def datasource_path(self, filename: str) -> str:
        """The file's path under its mount: the input's, else a frame of ``.lightly/frames``."""
        frame = self.lightly_dir / DOT_LIGHTLY / "frames" / filename
        if not (self.input_dir / filename).is_file() and frame.is_file():
            return _join(self.lightly_relative, DOT_LIGHTLY, "frames", filename)
        return _join(self.input_relative, filename)

    def read_url(self, filename: str) -> str:
        """The URL ``lightly-serve`` answers with the file's bytes."""
        path = quote(self.datasource_path(filename), safe="/")
        return f"{self.web_server_location.rstrip('/')}/{path}"


def filenames_and_read_urls(filenames: list[str], folders: ServedFolders) -> list[dict[str, str]]:
    """Lightly's ``fileName`` / ``readUrl`` / ``datasourceUrl`` records, in tag order."""
    return [
        {
            "fileName": name,
            "readUrl": folders.read_url(name),
            "datasourceUrl": folders.datasource_path(name),
        }
        for name in filenames
    ]


def label_studio_tasks(filenames: list[str], folders: ServedFolders) -> list[dict[str, Any]]:
    """Label Studio's import JSON: one image task per filename (ids from 0, in tag order)."""
    return [
        {"id": i, "data": {"image": record["readUrl"], "lightlyFileName": record["fileName"]}}
        for i, record in enumerate(filenames_and_read_urls(filenames, folders))
    ]


def _join(*parts: str) -> str:
    return PurePosixPath(*[p for p in parts if p]).as_posix()
