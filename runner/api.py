"""A local ``ApiWorkflowClient``: Lightly users port their scripts by changing an import.

```python
from runner.api import ApiWorkflowClient, DatasetType, DatasourcePurpose

client = ApiWorkflowClient(token="ignored", input_mount="/data/in", lightly_mount="/data/lightly")
client.create_dataset(dataset_name="cam1", dataset_type=DatasetType.IMAGES)
client.set_local_config(relative_path="cam1", purpose=DatasourcePurpose.INPUT)
client.set_local_config(relative_path="cam1", purpose=DatasourcePurpose.LIGHTLY)
scheduled_run_id = client.schedule_compute_worker_run(selection_config={"n_samples": 50, ...})
for run_info in client.compute_worker_run_info_generator(scheduled_run_id):
    print(run_info.state, run_info.message)
filenames = client.export_filenames_by_tag_name("initial-tag")
```

``schedule_compute_worker_run`` checks the config at once (a mistake raises there, as
Lightly's client validates before scheduling) and queues the run on the local worker, a
background thread of this process (:mod:`runner.client.worker`); the run goes through Lightly's
states (:mod:`runner.client.states`), shows each stage's progress on stderr (``progress=False``
turns that off), writes the run's ``log.txt`` and ends with the run directory. The mounts
(docker's ``-v`` in Lightly) come from the constructor or ``$LIGHTLY_RUNNER_INPUT_MOUNT`` /
``$LIGHTLY_RUNNER_LIGHTLY_MOUNT``; a missing or unusable mount raises :class:`MountError` at
once, before anything heavy is loaded, naming the argument or variable it came from. Runs,
tags and exports are read from the Lightly datasource (``.lightly/``), so a later script sees
the runs of earlier ones.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

import hydra
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from runner.artifacts.run_dir import new_run_id
from runner.client.downloads import ArtifactNotExist, DownloadsMixin
from runner.client.runs import (
    DockerRunData,
    RunNotFoundError,
    created_at_ms,
    list_artifacts,
    runs_on_disk,
)
from runner.client.states import (
    STATE_SCHEDULED_ID_NOT_FOUND,
    ComputeWorkerRunInfo,
    DockerRunScheduledPriority,
    DockerRunScheduledState,
    DockerRunState,
)
from runner.client.tags import TagsMixin
from runner.client.worker import WORKER, ScheduledRun
from runner.config import (
    DatasetType,
    DatasourceConfig,
    LocalDatasourceConfig,
    MountsConfig,
    RunConfig,
    register_configs,
)
from runner.config_errors import describe, describe_unknown_key, unknown_keys
from runner.console import PREFIX, console_progress
from runner.datasource.export import ServedFolders
from runner.datasource.lightly_dir import Datasources, check_mount
from runner.datasource.tags import TagData, TagNotFoundError
from runner.errors import ConfigError
from runner.progress import NO_PROGRESS, Progress
from runner.resources import config_dir

__all__ = [
    "ApiWorkflowClient",
    "ArtifactNotExist",
    "ComputeWorkerRunInfo",
    "DatasetType",
    "DatasourcePurpose",
    "DockerRunData",
    "DockerRunScheduledState",
    "DockerRunState",
    "MountError",
    "RunNotFoundError",
    "TagData",
    "TagNotFoundError",
]

ENV_INPUT_MOUNT = "LIGHTLY_RUNNER_INPUT_MOUNT"
ENV_LIGHTLY_MOUNT = "LIGHTLY_RUNNER_LIGHTLY_MOUNT"
_ENV = {"input_mount": ENV_INPUT_MOUNT, "lightly_mount": ENV_LIGHTLY_MOUNT}

log = logging.getLogger(__name__)

LOCAL_WORKER_ID = "local"


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


class ApiWorkflowClient(DownloadsMixin, TagsMixin):
    """Lightly's client for a local-storage workflow: datasets, scheduling and monitoring
    runs, tags, exports and downloads (docs/lightly-migration.md lists every call)."""

    poll_interval_s: float = 0.2
    """How often :meth:`compute_worker_run_info_generator` looks at the run (Lightly: 30 s)."""

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
        self._dataset_id: str | None = None
        if dataset_id:
            self.dataset_id = dataset_id

    @property
    def dataset_id(self) -> str | None:
        """The current dataset: its name here (``dataset.name`` of the runs)."""
        return self._dataset_id

    @dataset_id.setter
    def dataset_id(self, dataset_id: str | None) -> None:
        self._dataset_id = dataset_id
        if dataset_id:
            self._overrides["dataset"]["name"] = dataset_id

    def dataset_exists(self, dataset_id: str) -> bool:
        """Whether a run of the Lightly datasource was made for this dataset."""
        return any(run.dataset_id == dataset_id for run in self.get_compute_worker_runs())

    def dataset_name_exists(self, dataset_name: str, shared: bool | None = False) -> bool:
        del shared
        return self.dataset_exists(dataset_name)

    def register_compute_worker(
        self, name: str = "Default", labels: list[str] | None = None
    ) -> str:
        """The local worker's id (there is one worker: this process; nothing to register)."""
        del name, labels
        return LOCAL_WORKER_ID

    def get_compute_worker_ids(self) -> list[str]:
        return [LOCAL_WORKER_ID]

    def set_dataset_id_by_name(self, dataset_name: str, shared: bool | None = False) -> None:
        """Make ``dataset_name`` the current dataset (datasets exist by name only here)."""
        del shared  # no accounts, nothing is shared
        self.dataset_id = dataset_name

    def create_dataset(
        self, dataset_name: str, dataset_type: DatasetType | str = DatasetType.IMAGES
    ) -> str:
        """Name the dataset and its type; returns the name (the local dataset id)."""
        self._overrides["dataset"]["type"] = str(DatasetType(str(dataset_type)))
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
        """Check the config and queue the run on the local worker; returns its scheduled id.

        Returns at once, as Lightly's does: the run starts in a background thread of this
        process (one run at a time, higher ``priority`` first) and is monitored with
        :meth:`compute_worker_run_info_generator`. The scheduled run id is also the run id
        (the name of its folder in ``.lightly/runs/``).

        Raises:
            MountError: a mount is missing, not absolute or not a folder (before any work).
            ConfigError: unknown keys (with a hint), bad values, bad paths.
        """
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
        run_cfg = cast(RunConfig, OmegaConf.to_object(cfg))
        from runner.validate import validate_run_config  # imports torch: once the keys are good

        sources = validate_run_config(run_cfg)
        try:
            level = DockerRunScheduledPriority(str(priority))
        except ValueError:
            choices = ", ".join(DockerRunScheduledPriority)
            raise ConfigError(f"priority must be one of {choices}, got {priority!r}") from None
        run_id = new_run_id()
        show = self._progress

        def job(progress: Progress) -> Path:
            from runner.pipeline import run  # heavy (torch, Lightning)

            outcome = run(run_cfg, config_dict=plain, progress=progress, run_id=run_id)
            log.info("run %s finished: %s", outcome.run_id, outcome.run_dir)
            if show:
                print(f"{PREFIX}run directory: {outcome.run_dir}", file=sys.stderr, flush=True)
            return outcome.run_dir

        WORKER.submit(
            ScheduledRun(
                id=run_id,
                dataset_id=self.dataset_id,
                runs_dir=sources.runs_dir,
                priority=level,
                runs_on=list(runs_on or []),
                job=job,
                progress=console_progress() if show else NO_PROGRESS,
            )
        )
        return run_id

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

    # --- monitoring --------------------------------------------------------------------------

    def get_compute_worker_run_info(self, scheduled_run_id: str) -> ComputeWorkerRunInfo:
        """The run's Lightly state and last message (``OPEN`` while it waits in the queue)."""
        scheduled = WORKER.get(scheduled_run_id)
        if scheduled is not None:
            if scheduled.state is DockerRunScheduledState.CANCELED:
                return ComputeWorkerRunInfo(STATE_SCHEDULED_ID_NOT_FOUND, "The run was canceled.")
            state = scheduled.run_state or DockerRunScheduledState.OPEN
            return ComputeWorkerRunInfo(str(state), scheduled.message)
        on_disk = self._find_run(scheduled_run_id)
        if on_disk is not None:
            return ComputeWorkerRunInfo(on_disk.state, on_disk.message)
        return ComputeWorkerRunInfo(
            STATE_SCHEDULED_ID_NOT_FOUND,
            f"Could not find a job for the given run_id: '{scheduled_run_id}'. "
            "The scheduled run does not exist or was canceled before being picked up.",
        )

    def compute_worker_run_info_generator(
        self, scheduled_run_id: str
    ) -> Iterator[ComputeWorkerRunInfo]:
        """Yield the run's info each time it changes, until it ends (Lightly's loop).

        Lightly polls its server every 30 s; the local worker is polled every
        ``poll_interval_s`` seconds (0.2 by default). A run of this process yields every state
        it went through, in order, even one that lasted less than a poll.
        """
        last: ComputeWorkerRunInfo | None = None
        seen = 0  # entries of the run's history already yielded
        while True:
            scheduled = WORKER.get(scheduled_run_id)
            if scheduled is not None:
                history = scheduled.history[:]  # (state, message) in order
                for state, message in history[seen:]:
                    last = ComputeWorkerRunInfo(str(state), message)
                    yield last
                seen = len(history)
            info = self.get_compute_worker_run_info(scheduled_run_id)
            if info != last:
                yield info
            if info.in_end_state():
                return
            last = info
            time.sleep(self.poll_interval_s)

    def get_scheduled_compute_worker_runs(self, state: str | None = None) -> list[ScheduledRun]:
        """Runs scheduled in this process for the current dataset; by default the ones not
        yet finished (neither ``DONE`` nor ``CANCELED``), else those in ``state``."""
        runs = [r for r in WORKER.scheduled() if r.dataset_id == self.dataset_id]
        if state is None:
            ended = (DockerRunScheduledState.DONE, DockerRunScheduledState.CANCELED)
            return [r for r in runs if r.state not in ended]
        return [r for r in runs if r.state == DockerRunScheduledState(str(state))]

    def cancel_scheduled_compute_worker_run(self, scheduled_run_id: str) -> None:
        """Cancel a run that has not started yet (a started run is left to end)."""
        if not WORKER.cancel(scheduled_run_id):
            raise RunNotFoundError(f"no waiting scheduled run {scheduled_run_id!r} to cancel")

    # --- runs ----------------------------------------------------------------------------------

    def get_compute_worker_runs(self, dataset_id: str | None = None) -> list[DockerRunData]:
        """The runs of the Lightly datasource (and of this process), oldest first; only those
        of ``dataset_id`` (``dataset.name``) when given."""
        found = {run.id: run for run in runs_on_disk(self._dot_lightly() / "runs")}
        for scheduled in WORKER.scheduled():
            live = self._live_run(scheduled)
            if live is not None:
                found[live.id] = live
        # Run ids carry whole seconds: within one second the run that ended first came first.
        runs = sorted(found.values(), key=lambda r: (r.created_at, r.last_modified_at, r.id))
        return [r for r in runs if dataset_id is None or r.dataset_id == dataset_id]

    def get_compute_worker_run(self, run_id: str) -> DockerRunData:
        """One run by id.

        Raises:
            RunNotFoundError: No such run (Lightly: ``ApiException``).
        """
        run = self._find_run(run_id)
        if run is None:
            raise RunNotFoundError(f"no run {run_id!r} in {self._dot_lightly() / 'runs'}")
        return run

    def get_compute_worker_run_from_scheduled_run(self, scheduled_run_id: str) -> DockerRunData:
        """The run of a scheduled run (the same id here).

        Raises:
            RunNotFoundError: Not picked up by the worker yet, or no such run.
        """
        return self.get_compute_worker_run(scheduled_run_id)

    def get_compute_worker_run_tags(self, run_id: str) -> list[TagData]:
        """The tags a run created (its selection), newest first."""
        return [t for t in reversed(self.get_all_tags()) if t.run_id == run_id]

    def download_embeddings_csv(self, output_path: str) -> None:
        """The embeddings of the dataset's newest completed run (``embeddings.csv``)."""
        done = [r for r in self.get_compute_worker_runs(self.dataset_id) if r.state == "COMPLETED"]
        if not done:
            raise RunNotFoundError(f"no completed run of dataset {self.dataset_id!r} yet")
        self.download_compute_worker_run_embeddings(run=done[-1], output_path=output_path)

    def get_run_dir(self, run_id: str) -> Path:
        """The folder of a finished run's artifacts (``.lightly/runs/<run id>/``)."""
        return self.get_compute_worker_run(run_id).run_dir

    def export_filenames_by_run(self, run_id: str) -> list[str]:
        """The selected filenames of a run (Lightly: ``export_filenames_by_tag_name``)."""
        return (self.get_run_dir(run_id) / "selected_filenames.txt").read_text().splitlines()

    # --- helpers -------------------------------------------------------------------------------

    def _sources(self) -> Datasources:
        """The datasources as ``set_local_config`` set them, validated like a run's."""
        from runner.datasource.lightly_dir import resolve_datasources

        self._check_mounts()
        datasource = self._overrides["datasource"]
        return resolve_datasources(
            MountsConfig(**self._overrides["mounts"]),
            DatasourceConfig(
                input=LocalDatasourceConfig(**datasource["input"]),
                lightly=LocalDatasourceConfig(**datasource["lightly"]),
                web_server_location=datasource.get(
                    "web_server_location", DatasourceConfig.web_server_location
                ),
            ),
        )

    def _dot_lightly(self) -> Path:
        return self._sources().dot_lightly

    def _served(self) -> ServedFolders:
        sources = self._sources()
        datasource = self._overrides["datasource"]
        return ServedFolders(
            input_dir=sources.input_dir,
            input_relative=datasource["input"].get("relative_path", ""),
            lightly_dir=sources.lightly_dir,
            lightly_relative=datasource["lightly"].get("relative_path", ""),
            web_server_location=datasource.get(
                "web_server_location", DatasourceConfig.web_server_location
            ),
        )

    def _input_mount(self) -> Path | None:
        value = self._overrides["mounts"]["input_mount"]
        return Path(value).resolve() if value else None

    def _find_run(self, run_id: str) -> DockerRunData | None:
        scheduled = WORKER.get(run_id)
        if scheduled is not None:
            return self._live_run(scheduled)
        for run in runs_on_disk(self._dot_lightly() / "runs"):
            if run.id == run_id:
                return run
        return None

    def _live_run(self, scheduled: ScheduledRun) -> DockerRunData | None:
        """A run of this process as it stands now (None while it waits in the queue)."""
        if scheduled.run_state is None:
            return None
        folder = next(
            (
                path
                for path in (
                    scheduled.runs_dir / scheduled.id,
                    scheduled.runs_dir / f"{scheduled.id}-failed",
                    scheduled.runs_dir / f".{scheduled.id}.partial",
                )
                if path.is_dir()
            ),
            scheduled.runs_dir / scheduled.id,
        )
        return DockerRunData(
            id=scheduled.id,
            state=str(scheduled.run_state),
            dataset_id=scheduled.dataset_id,
            scheduled_id=scheduled.id,
            created_at=created_at_ms(scheduled.id),
            last_modified_at=scheduled.last_modified_at,
            message=scheduled.message,
            run_dir=folder,
            artifacts=list_artifacts(folder),
        )

    def _run_data(self, run: DockerRunData | str) -> DockerRunData:
        return self.get_compute_worker_run(run if isinstance(run, str) else run.id)

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
