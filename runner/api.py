"""A local ``ApiWorkflowClient``: Lightly users port their scripts by changing an import.

```python
from runner.api import ApiWorkflowClient, DatasetType, DatasourcePurpose

client = ApiWorkflowClient(token="ignored", input_mount="/data/in", lightly_mount="/data/lightly")
client.create_dataset(dataset_name="cam1", dataset_type=DatasetType.IMAGES)
client.set_local_config(relative_path="cam1", purpose=DatasourcePurpose.INPUT)
client.set_local_config(relative_path="cam1", purpose=DatasourcePurpose.LIGHTLY)
run_id = client.schedule_compute_worker_run(selection_config={"n_samples": 50, ...})
client.export_filenames_by_run(run_id)
```

``schedule_compute_worker_run`` runs the same pipeline as ``lightly-run``, in-process, and
returns when it is done; it shows each stage's progress on stderr (``progress=False`` turns
that off), writes the run's ``log.txt`` and ends with the run directory. The mounts (docker's
``-v`` in Lightly) come from the constructor or ``$LIGHTLY_RUNNER_INPUT_MOUNT`` /
``$LIGHTLY_RUNNER_LIGHTLY_MOUNT``; a missing or unusable mount raises :class:`MountError`
at once, before anything heavy is loaded, naming the argument or variable it came from.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

import hydra
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from runner.config import DatasetType, MountsConfig, RunConfig, register_configs
from runner.config_errors import describe, describe_unknown_key, unknown_keys
from runner.console import PREFIX, console_progress
from runner.datasource.lightly_dir import check_mount
from runner.errors import ConfigError
from runner.progress import NO_PROGRESS
from runner.resources import config_dir

__all__ = ["ApiWorkflowClient", "DatasetType", "DatasourcePurpose", "MountError"]

ENV_INPUT_MOUNT = "LIGHTLY_RUNNER_INPUT_MOUNT"
ENV_LIGHTLY_MOUNT = "LIGHTLY_RUNNER_LIGHTLY_MOUNT"
_ENV = {"input_mount": ENV_INPUT_MOUNT, "lightly_mount": ENV_LIGHTLY_MOUNT}

log = logging.getLogger(__name__)


class MountError(ConfigError):
    """A mount (Lightly's docker ``-v``) is missing or unusable.

    The message names what the caller wrote: the ``input_mount=``/``lightly_mount=`` argument
    of :class:`ApiWorkflowClient`, or the environment variable it was read from.
    """


class DatasourcePurpose(StrEnum):
    """Lightly's ``DatasourcePurpose``."""

    INPUT = "INPUT"
    LIGHTLY = "LIGHTLY"
    INPUT_OUTPUT = "INPUT_OUTPUT"


class ApiWorkflowClient:
    """The subset of Lightly's client that a local-storage workflow uses."""

    def __init__(
        self,
        token: str | None = None,
        dataset_id: str | None = None,
        *,
        input_mount: str | None = None,
        lightly_mount: str | None = None,
        progress: bool = True,
    ) -> None:
        """Args beyond Lightly's: the two mounts (else from the environment) and whether runs
        show their progress and run directory on stderr."""
        del token  # no account, no cloud: accepted so Lightly scripts run unchanged
        self.dataset_id = dataset_id
        self._progress = progress
        given = {"input_mount": input_mount, "lightly_mount": lightly_mount}
        # Where each mount came from, in the caller's words (for error messages).
        self._mount_origin = {
            name: f"the {name}= argument" if value else f"${_ENV[name]}"
            for name, value in given.items()
        }
        self._overrides: dict[str, Any] = {
            "mounts": {
                name: value or os.environ.get(_ENV[name], "") for name, value in given.items()
            },
            "datasource": {"input": {}, "lightly": {}},
            "dataset": {},
        }
        self._runs: dict[str, Path] = {}

    def create_dataset(
        self, dataset_name: str, dataset_type: DatasetType | str = DatasetType.IMAGES
    ) -> str:
        """Name the dataset and its type; returns the name (the local dataset id)."""
        self._overrides["dataset"] = {"name": dataset_name, "type": str(dataset_type)}
        self.dataset_id = dataset_name
        return dataset_name

    def set_local_config(
        self,
        relative_path: str = "",
        web_server_location: str | None = "http://localhost:3456",
        thumbnail_suffix: str | None = ".lightly/thumbnails/[filename]_thumb.[extension]",
        purpose: DatasourcePurpose | str = DatasourcePurpose.INPUT_OUTPUT,
    ) -> None:
        """Set the datasource folder(s) inside the mounts, as Lightly's call does."""
        purpose = DatasourcePurpose(str(purpose))
        datasource = self._overrides["datasource"]
        if purpose in (DatasourcePurpose.INPUT, DatasourcePurpose.INPUT_OUTPUT):
            datasource["input"] = {"relative_path": relative_path}
        if purpose in (DatasourcePurpose.LIGHTLY, DatasourcePurpose.INPUT_OUTPUT):
            datasource["lightly"] = {"relative_path": relative_path}
        if web_server_location is not None:
            datasource["web_server_location"] = web_server_location
        datasource["thumbnail_suffix"] = thumbnail_suffix or ""

    def schedule_compute_worker_run(
        self,
        worker_config: dict[str, Any] | None = None,
        lightly_config: dict[str, Any] | None = None,
        selection_config: dict[str, Any] | None = None,
        priority: str = "MID",
        runs_on: list[str] | None = None,
    ) -> str:
        """Run the pipeline now with Lightly's three dicts; returns the run id.

        Raises:
            MountError: a mount is missing, not absolute or not a folder (before any work).
            ConfigError: unknown keys (with a hint), bad values, bad paths.
        """
        del priority, runs_on  # one local machine: nothing to schedule
        self._check_mounts()
        cfg = self._compose(
            {
                **self._overrides,
                "worker": worker_config or {},
                "lightly": lightly_config or {},
                "selection": selection_config or {},
            }
        )
        plain = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
        from runner.pipeline import run  # heavy (torch, Lightning): only once the config is good

        outcome = run(
            cast(RunConfig, OmegaConf.to_object(cfg)),
            config_dict=plain,
            progress=console_progress() if self._progress else NO_PROGRESS,
        )
        self._runs[outcome.run_id] = outcome.run_dir
        log.info("run %s finished: %s", outcome.run_id, outcome.run_dir)
        if self._progress:
            print(f"{PREFIX}run directory: {outcome.run_dir}", file=sys.stderr, flush=True)
        return outcome.run_id

    def _check_mounts(self) -> None:
        """Refuse a missing or unusable mount in the caller's words.

        Raises:
            MountError: naming the ``input_mount=`` argument or the environment variable.
        """
        mounts = self._overrides["mounts"]
        for name in MountsConfig.__dataclass_fields__:
            value, origin = mounts[name], self._mount_origin[name]
            if not value:
                raise MountError(
                    f"no {name.replace('_', ' ')}: pass ApiWorkflowClient({name}='/abs/path') "
                    f"or set ${_ENV[name]}"
                )
            try:
                check_mount(origin, value)
            except ConfigError as err:
                raise MountError(str(err)) from None

    def get_run_dir(self, run_id: str) -> Path:
        """The folder of a run's artifacts (``.lightly/runs/<run id>/``)."""
        if run_id not in self._runs:
            raise ConfigError(f"unknown run id {run_id!r}")
        return self._runs[run_id]

    def export_filenames_by_run(self, run_id: str) -> list[str]:
        """The selected filenames of a run (Lightly: ``export_filenames_by_tag_name``)."""
        return (self.get_run_dir(run_id) / "selected_filenames.txt").read_text().splitlines()

    def download_compute_worker_run_artifacts(self, run_id: str, output_dir: str) -> None:
        """Copy every artifact of a run into ``output_dir``."""
        shutil.copytree(self.get_run_dir(run_id), output_dir, dirs_exist_ok=True)

    def download_compute_worker_run_report_pdf(self, run_id: str, output_path: str) -> None:
        shutil.copyfile(self.get_run_dir(run_id) / "report.pdf", output_path)

    @staticmethod
    def _compose(values: dict[str, Any]) -> DictConfig:
        """The packaged defaults merged with the given values, checked like the CLI's."""
        register_configs()
        GlobalHydra.instance().clear()
        try:
            with hydra.initialize_config_dir(str(config_dir()), version_base="1.3"):
                base = hydra.compose(config_name="config")
            # Like the CLI's ``++key=value`` for free-form dict keys (``lightly.criterion``): the
            # schema's own nodes still refuse unknown keys.
            OmegaConf.set_struct(base, False)
            merged = OmegaConf.merge(base, OmegaConf.create(values))
            assert isinstance(merged, DictConfig)
            unknown = unknown_keys(merged)
            if unknown:
                raise ConfigError(describe_unknown_key(unknown[0]))
            OmegaConf.to_object(merged)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(describe(exc)) from exc
        finally:
            GlobalHydra.instance().clear()
        return merged
