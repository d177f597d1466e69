"""Lightly's ``download_compute_worker_run_*`` calls: copy a run's files to where the script says.

Each takes ``run=`` (a :class:`~runner.client.runs.DockerRunData`, or a run id) and
``output_path=`` (``output_dir=`` for all artifacts) like Lightly's, and ``timeout`` is accepted
and unused. A file the run does not have raises :class:`ArtifactNotExist` (Lightly's name).
Copies are atomic (temp name, then rename) and never land in the input mount.
"""

from __future__ import annotations

import shutil
from abc import abstractmethod
from pathlib import Path

from runner.artifacts.files import FILES
from runner.atomic import atomic_path
from runner.client.runs import DockerRunData
from runner.errors import ConfigError, UserError


class ArtifactNotExist(UserError):
    """The run has no such artifact (Lightly's ``ArtifactNotExist``)."""


class DownloadsMixin:
    """The download calls of :class:`runner.api.ApiWorkflowClient`."""

    @abstractmethod
    def _run_data(self, run: DockerRunData | str) -> DockerRunData:
        """The run named by ``run`` (data or id)."""

    @abstractmethod
    def _input_mount(self) -> Path | None:
        """The input mount, where nothing may be written."""

    def download_compute_worker_run_artifacts(
        self, run: DockerRunData | str, output_dir: str, timeout: int = 60
    ) -> None:
        """Copy every file of the run into ``output_dir`` (sub-folders kept)."""
        del timeout
        data = self._run_data(run)
        out = self._writable(output_dir)
        for artifact in data.artifacts:
            self._copy(data.run_dir / artifact.file_name, out / artifact.file_name)

    def download_compute_worker_run_checkpoint(
        self, run: DockerRunData | str, output_path: str, timeout: int = 60
    ) -> None:
        """The run's checkpoint (only runs that trained have one)."""
        self._download(run, "CHECKPOINT", output_path)

    def download_compute_worker_run_report_pdf(
        self, run: DockerRunData | str, output_path: str, timeout: int = 60
    ) -> None:
        self._download(run, "REPORT_PDF", output_path)

    def download_compute_worker_run_report_json(
        self, run: DockerRunData | str, output_path: str, timeout: int = 60
    ) -> None:
        self._download(run, "REPORT_JSON", output_path)

    def download_compute_worker_run_report_v2_json(
        self, run: DockerRunData | str, output_path: str, timeout: int = 60
    ) -> None:
        """Lightly's ``report_v2.json``: here the one ``report.json`` (see docs/outputs.md)."""
        self._download(run, "REPORT_JSON", output_path)

    def download_compute_worker_run_log(
        self, run: DockerRunData | str, output_path: str, timeout: int = 60
    ) -> None:
        self._download(run, "LOG", output_path)

    def download_compute_worker_run_memory_log(
        self, run: DockerRunData | str, output_path: str, timeout: int = 60
    ) -> None:
        """Lightly's memory log: runs here write none, so this raises ``ArtifactNotExist``."""
        self._download(run, "MEMLOG", output_path)

    def download_compute_worker_run_corruptness_check_information(
        self, run: DockerRunData | str, output_path: str, timeout: int = 60
    ) -> None:
        self._download(run, "CORRUPTNESS_CHECK_INFORMATION", output_path)

    def download_compute_worker_run_sequence_information(
        self, run: DockerRunData | str, output_path: str, timeout: int = 60
    ) -> None:
        self._download(run, "SEQUENCE_INFORMATION", output_path)

    def download_compute_worker_run_embeddings(
        self, run: DockerRunData | str, output_path: str, timeout: int = 60
    ) -> None:
        """The run's ``embeddings.csv`` (Lightly: ``download_embeddings_csv``)."""
        self._download(run, FILES["embeddings"], output_path)

    def _download(self, run: DockerRunData | str, kind: str, output_path: str) -> None:
        """Copy the artifact of Lightly type ``kind`` (or file name) to ``output_path``."""
        data = self._run_data(run)
        match = [a for a in data.artifacts if kind in (a.type, a.file_name)]
        if not match:
            raise ArtifactNotExist(f"run {data.id} has no {kind} artifact (in {data.run_dir})")
        self._copy(data.run_dir / match[0].file_name, self._writable(output_path))

    def _writable(self, output: str) -> Path:
        """``output`` as a path, refused inside the input mount (it is read-only)."""
        path = Path(output).expanduser().absolute()
        mount = self._input_mount()
        if mount is not None and path.resolve().is_relative_to(mount):
            raise ConfigError(f"will not write into the input mount {mount}: {output}")
        return path

    @staticmethod
    def _copy(source: Path, target: Path) -> None:
        with atomic_path(target, suffix=target.suffix) as tmp:
            shutil.copyfile(source, tmp)
