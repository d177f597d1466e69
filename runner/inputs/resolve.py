"""Resolve selection inputs (SCORES, PREDICTIONS, METADATA) to values aligned with the keys.

``build_resolver`` returns the resolver the selection engine calls for every non-EMBEDDINGS,
non-RANDOM input, and the report it fills in. Files are read lazily, on the first input that
needs them, only for the given keys, and once: tasks, the metadata schema and files, and each
distinct input are cached. Call the resolver for every input before embedding to fail early on
configuration mistakes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from runner.config import InputType, SelectionInput
from runner.decode.inspect import FileInfo
from runner.errors import ConfigError, DataError
from runner.inputs import class_vectors, scores
from runner.inputs.files import sample_file
from runner.inputs.lightly_metadata import (
    LIGHTLY_KEYS,
    LIGHTLY_PREFIX,
    lightly_values,
    metric_name,
    unknown_key_error,
)
from runner.inputs.metadata import (
    MetadataField,
    MetadataFiles,
    field_values,
    load_metadata_files,
    metadata_dir,
    read_metadata_schema,
)
from runner.inputs.prediction_schema import TaskSchema, check_task_listed, read_schema, read_tasks
from runner.inputs.predictions import TaskPredictions, load_task
from runner.inputs.report import ClassCounts, InputRecord, InputReport
from runner.inputs.values import InputResolver, InputValues, ValueKind

PREDICTION_NAMES = ("CLASS_DISTRIBUTION", "CATEGORY_COUNT")


def build_resolver(
    *,
    keys: Sequence[str],
    dot_lightly: Path,
    infos: Mapping[str, FileInfo],
    paths: Mapping[str, Path] | None = None,
    video_of: Mapping[str, str] | None = None,
    tasks: Mapping[str, TaskPredictions] | None = None,
    measured: Mapping[str, dict[str, float]] | None = None,
) -> tuple[InputResolver, InputReport]:
    """A resolver for the inputs of one selection, and the report it fills in.

    Args:
        keys: Candidate keys; every ``InputValues`` is aligned with them.
        dot_lightly: ``<lightly datasource>/.lightly`` (``Datasources.dot_lightly``).
        infos: ``inspect_files`` results per key: image sizes (to check boxes and masks) and
            the computed ``lightly.*`` metadata.
        paths: Image file per key, to compute ``lightly.*`` metrics the inspection did not
            (header-only mode); without it such metrics are a DataError.
        video_of: Frame key -> its video's key, so that a frame without its own metadata
            file uses the video's.
        tasks: Predictions already loaded for ``keys``, by task (object crops: each crop's
            own prediction); these tasks are not read from files.
        measured: ``lightly.*`` metrics already measured, by key (object crops).

    Returns:
        The resolver (raises ``ConfigError``/``DataError`` with one line for the user, and
        ``ValueError`` for EMBEDDINGS and RANDOM inputs, which are not loaded from files) and
        the ``InputReport`` it appends to.
    """
    resolver = _Resolver(
        keys=tuple(keys),
        dot_lightly=dot_lightly,
        infos=infos,
        paths=paths or {},
        video_of=video_of or {},
        tasks=tasks or {},
        measured=measured or {},
    )
    return resolver.resolve, resolver.report


def image_sizes(keys: Sequence[str], infos: Mapping[str, FileInfo]) -> dict[str, tuple[int, int]]:
    """Upright ``(width, height)`` per key where the inspection knows it."""
    sizes = {}
    for key in keys:
        info = infos.get(key)
        if info is None or info.is_corrupt:
            continue
        width = int(info.metrics.get("width", info.width))
        height = int(info.metrics.get("height", info.height))
        if width > 0 and height > 0:
            sizes[key] = (width, height)
    return sizes


class _Resolver:
    """Caches per task, metadata and input; see ``build_resolver``."""

    def __init__(
        self,
        *,
        keys: tuple[str, ...],
        dot_lightly: Path,
        infos: Mapping[str, FileInfo],
        paths: Mapping[str, Path],
        video_of: Mapping[str, str],
        tasks: Mapping[str, TaskPredictions],
        measured: Mapping[str, dict[str, float]],
    ) -> None:
        self.keys = keys
        self.dot_lightly = dot_lightly
        self.infos = infos
        self.paths = paths
        self.video_of = video_of
        self.report = InputReport()
        self._values: dict[tuple[object, ...], InputValues] = {}
        self._schemas: dict[str, TaskSchema] = {}
        self._tasks: dict[str, TaskPredictions] = dict(tasks)
        self._fields: tuple[MetadataField, ...] | None = None
        self._files: MetadataFiles | None = None
        self._computed: dict[str, dict[str, float]] = dict(measured)
        for loaded in tasks.values():
            self.count_classes(loaded)

    def resolve(self, selection_input: SelectionInput) -> InputValues:
        """The values of one input for every key (cached per distinct input)."""
        input_type = InputType(selection_input.type)
        signature = (
            input_type,
            selection_input.task,
            selection_input.score,
            selection_input.key,
            selection_input.name,
            tuple(selection_input.categories or ()),
        )
        if signature not in self._values:
            if input_type is InputType.SCORES:
                values = self._scores(selection_input)
            elif input_type is InputType.PREDICTIONS:
                values = self._predictions(selection_input)
            elif input_type is InputType.METADATA:
                values = self._metadata(selection_input)
            else:
                raise ValueError(f"{input_type.value} inputs are handled by the selection engine")
            self._values[signature] = values
        return self._values[signature]

    # --- predictions ------------------------------------------------------------------------

    def _schema(self, task: str | None, input_type: str) -> TaskSchema:
        if not task:
            raise ConfigError(f"{input_type} input needs a 'task' (a name from tasks.json)")
        if task in self._tasks:
            return self._tasks[task].schema
        if task not in self._schemas:
            check_task_listed(task, read_tasks(self.dot_lightly), self.dot_lightly)
            self._schemas[task] = read_schema(self.dot_lightly, task)
        return self._schemas[task]

    def _task(self, task: str) -> TaskPredictions:
        if task not in self._tasks:
            sizes = image_sizes(self.keys, self.infos)
            loaded = load_task(self.dot_lightly, task, keys=self.keys, image_sizes=sizes)
            self._tasks[task] = loaded
            self.count_classes(loaded)
        return self._tasks[task]

    def count_classes(self, loaded: TaskPredictions) -> None:
        """Record a task's objects per class and sample, for the report."""
        self.report.class_counts[loaded.schema.name] = ClassCounts(
            task=loaded.schema.name,
            categories=loaded.schema.category_names,
            keys=self.keys,
            counts=class_vectors.class_counts(loaded),
        )

    def _scores(self, selection_input: SelectionInput) -> InputValues:
        schema = self._schema(selection_input.task, "SCORES")
        score = scores.check_score_name(schema, selection_input.score)
        task = self._task(schema.name)
        source = f"SCORES {schema.name}/{score}"
        values = scores.score_values(task, score)
        return self._prediction_values(task, source, ValueKind.NUMERIC, values, (), "score 0")

    def _predictions(self, selection_input: SelectionInput) -> InputValues:
        schema = self._schema(selection_input.task, "PREDICTIONS")
        name = selection_input.name
        if name not in PREDICTION_NAMES:
            raise ConfigError(
                f"PREDICTIONS input: name {name!r} is not one of {', '.join(PREDICTION_NAMES)}"
            )
        categories = selection_input.categories
        if name == "CLASS_DISTRIBUTION":
            task = self._task(schema.name)
            values = class_vectors.class_distribution(task)
            source = f"PREDICTIONS {schema.name}/{name}"
            kind, names, default = ValueKind.DISTRIBUTION, schema.category_names, "a zero row"
        else:
            class_vectors.category_columns(schema, categories)  # fail before reading files
            task = self._task(schema.name)
            values = class_vectors.category_count(task, categories)
            suffix = f"[{','.join(categories)}]" if categories else ""
            source = f"PREDICTIONS {schema.name}/{name}{suffix}"
            kind, names, default = ValueKind.NUMERIC, (), "count 0"
        return self._prediction_values(task, source, kind, values, names, default)

    def _prediction_values(
        self,
        task: TaskPredictions,
        source: str,
        kind: ValueKind,
        values: np.ndarray,
        categories: tuple[str, ...],
        default: str,
    ) -> InputValues:
        without = len(task.keys) - len(task.by_key)
        notes = list(task.warnings)
        if without:
            notes.insert(
                0,
                f"{source}: {without} of {len(task.keys)} samples have no usable prediction "
                f"file ({len(task.missing)} missing, {len(task.skipped)} invalid): {default}",
            )
        self.report.inputs.append(
            InputRecord(
                source=source,
                kind=kind.value,
                files_read=task.files_read,
                missing=task.missing,
                skipped=task.skipped,
                defaults_applied=without,
                notes=tuple(notes),
            )
        )
        return InputValues(kind, values, categories, source, tuple(notes))

    # --- metadata ---------------------------------------------------------------------------

    def _metadata(self, selection_input: SelectionInput) -> InputValues:
        key = selection_input.key
        if not key:
            raise ConfigError("METADATA input needs a 'key' (a schema path or lightly.<name>)")
        if key.startswith(LIGHTLY_PREFIX):
            return self._lightly(key)
        fields = self._metadata_fields()
        field = next((f for f in fields if f.path == key), None)
        if field is None:
            raise unknown_key_error(key, custom_keys=[f.path for f in fields])
        files = self._metadata_files()
        found = field_values(field, files, self.keys)
        source = f"METADATA {key}"
        notes: list[str] = []
        if found.defaults_applied:
            notes.append(
                f"{source}: defaultValue {field.default!r} used for {found.defaults_applied} of "
                f"{len(self.keys)} samples ({len(files.missing)} without a metadata file, "
                f"{len(files.skipped)} files invalid, {len(found.wrong_type)} values of the "
                "wrong type)"
            )
        self.report.inputs.append(
            InputRecord(
                source=source,
                kind=(ValueKind.NUMERIC if field.is_numeric else ValueKind.CATEGORICAL).value,
                files_read=files.files_read,
                missing=tuple(self._metadata_file(k) for k in files.missing),
                skipped=files.skipped + found.wrong_type,
                defaults_applied=found.defaults_applied,
                notes=tuple(notes),
            )
        )
        if field.is_numeric:
            numeric = np.array(found.values, dtype=np.float64)
            return InputValues(ValueKind.NUMERIC, numeric, (), source, tuple(notes))
        labels = np.array(found.values, dtype=object)
        levels = tuple(sorted({str(v) for v in found.values}))
        return InputValues(ValueKind.CATEGORICAL, labels, levels, source, tuple(notes))

    def _lightly(self, key: str) -> InputValues:
        if key not in LIGHTLY_KEYS:
            raise unknown_key_error(key, custom_keys=self._custom_paths())
        name = metric_name(key)
        found = lightly_values(
            name, keys=self.keys, infos=self.infos, paths=self.paths, computed=self._computed
        )
        source = f"METADATA {key}"
        notes = (
            (f"{source}: measured {found.computed_now} images not measured by the inspection",)
            if found.computed_now
            else ()
        )
        self.report.inputs.append(InputRecord(source=source, kind="NUMERIC", notes=notes))
        return InputValues(ValueKind.NUMERIC, found.values, (), source, notes)

    def _metadata_fields(self) -> tuple[MetadataField, ...]:
        if self._fields is None:
            self._fields = read_metadata_schema(self.dot_lightly)
        return self._fields

    def _custom_paths(self) -> list[str]:
        """The custom metadata keys, for hints; none when the schema is unusable."""
        try:
            return [f.path for f in self._metadata_fields()]
        except DataError:
            return []

    def _metadata_files(self) -> MetadataFiles:
        if self._files is None:
            self._files = load_metadata_files(
                self.dot_lightly, keys=self.keys, video_of=self.video_of
            )
        return self._files

    def _metadata_file(self, key: str) -> str:
        path = metadata_dir(self.dot_lightly) / sample_file(key)
        return path.relative_to(self.dot_lightly.parent).as_posix()
