"""Lightly's tag and export calls, on the tags of :mod:`runner.datasource.tags`.

Beyond reading, ``create_tag_from_filenames`` writes your own tag (``.lightly/tags/<name>.txt``,
the query sets of SIMILARITY) and ``delete_tag_by_name`` removes one of yours; a run's tag is
its selection and is not deleted here.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any

from runner.atomic import atomic_write_text
from runner.datasource.export import ServedFolders, filenames_and_read_urls, label_studio_tasks
from runner.datasource.tags import (
    TagData,
    TagNotFoundError,
    is_tag_name,
    list_tags,
    read_tag,
    tag_path,
)
from runner.errors import ConfigError
from runner.write_paths import contained


class TagsMixin:
    """The tag and export calls of :class:`runner.api.ApiWorkflowClient`."""

    dataset_id: str | None

    @abstractmethod
    def _dot_lightly(self) -> Path:
        """``.lightly/`` of the current Lightly datasource."""

    @abstractmethod
    def _served(self) -> ServedFolders:
        """The datasources and the URL ``lightly-serve`` serves them under."""

    def get_all_tags(self) -> list[TagData]:
        """Every tag of the dataset: ``initial-tag`` (first run), one per later run, yours."""
        return list_tags(self._dot_lightly(), self.dataset_id)

    def get_tag_by_name(self, tag_name: str) -> TagData:
        """Raises: TagNotFoundError (Lightly: ``TagDoesNotExistError``)."""
        for tag in self.get_all_tags():
            if tag.name == tag_name:
                return tag
        tag_path(self._dot_lightly(), tag_name)  # raises the one-line "not found"
        raise TagNotFoundError(f"tag {tag_name!r} not found")

    def get_tag_by_id(self, tag_id: str) -> TagData:
        """A tag's id is its name here."""
        return self.get_tag_by_name(tag_id)

    def get_filenames_in_tag(self, tag_data: TagData, **_: Any) -> list[str]:
        return read_tag(self._dot_lightly(), tag_data.name)

    def export_filenames_by_tag_name(self, tag_name: str) -> str:
        """The tag's filenames, one per line (a string, as Lightly's)."""
        return "\n".join(read_tag(self._dot_lightly(), tag_name))

    def export_filenames_by_tag_id(self, tag_id: str) -> str:
        return self.export_filenames_by_tag_name(tag_id)

    def export_filenames_and_read_urls_by_tag_name(self, tag_name: str) -> list[dict[str, str]]:
        """``fileName``, ``readUrl`` (served by ``lightly-serve``) and ``datasourceUrl``."""
        names = read_tag(self._dot_lightly(), tag_name)
        return filenames_and_read_urls(names, self._served())

    def export_filenames_and_read_urls_by_tag_id(self, tag_id: str) -> list[dict[str, str]]:
        return self.export_filenames_and_read_urls_by_tag_name(tag_id)

    def export_label_studio_tasks_by_tag_name(self, tag_name: str) -> list[dict[str, Any]]:
        """Label Studio's import JSON for the tag; its image URLs open while ``lightly-serve``
        runs at ``web_server_location``."""
        return label_studio_tasks(read_tag(self._dot_lightly(), tag_name), self._served())

    def export_label_studio_tasks_by_tag_id(self, tag_id: str) -> list[dict[str, Any]]:
        return self.export_label_studio_tasks_by_tag_name(tag_id)

    def create_tag_from_filenames(
        self, fnames_new_tag: list[str], new_tag_name: str, parent_tag_id: str | None = None
    ) -> TagData:
        """Write your own tag (e.g. the query set of a SIMILARITY run).

        Raises:
            ConfigError: a bad or taken name, or a filename not in the input datasource.
        """
        del parent_tag_id  # tags are plain lists here
        if not is_tag_name(new_tag_name) or new_tag_name.endswith(".txt"):
            raise ConfigError(f"not a tag name: {new_tag_name!r}")
        if any(tag.name == new_tag_name for tag in self.get_all_tags()):
            raise ConfigError(f"a tag named {new_tag_name!r} exists already")
        input_dir = self._served().input_dir
        missing = [name for name in fnames_new_tag if not (input_dir / name).is_file()]
        if missing:
            raise ConfigError(
                f"{len(missing)} filename(s) are not in the input datasource {input_dir}, "
                f"first: {missing[0]!r}"
            )
        path = contained(self._dot_lightly(), "tags", f"{new_tag_name}.txt")
        atomic_write_text(path, "".join(f"{name}\n" for name in fnames_new_tag))
        return self.get_tag_by_name(new_tag_name)

    def delete_tag_by_name(self, tag_name: str) -> None:
        """Delete one of your own tags.

        Raises:
            ConfigError: the tag is a run's selection, or does not exist.
        """
        tag = self.get_tag_by_name(tag_name)
        if tag.run_id is not None:
            raise ConfigError(
                f"tag {tag_name!r} is the selection of run {tag.run_id}; it goes with the run "
                "folder, not by itself"
            )
        contained(self._dot_lightly(), "tags", f"{tag_name}.txt").unlink()

    def delete_tag_by_id(self, tag_id: str) -> None:
        self.delete_tag_by_name(tag_id)
