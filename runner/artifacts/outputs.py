"""Every file of a finished run, in Lightly's names where it has them.

``report.json`` is the machine-readable twin of the PDF and the single source the report is
rendered from; its shape is documented in ``docs/outputs.md`` and versioned by
``SCHEMA_VERSION``.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import yaml

from runner import __version__
from runner.artifacts.files import FILES
from runner.artifacts.run_dir import RunDirectory
from runner.artifacts.write import (
    atomic_write_json,
    atomic_write_text,
    write_embeddings_csv,
    write_lines,
)
from runner.config import RunConfig
from runner.datasource.lightly_dir import Datasources
from runner.decode.errors import bare_reason
from runner.embedding.embed import EmbeddingResult
from runner.prepare import Prepared
from runner.selection.select import SelectionResult
from runner.write_paths import contained

SCHEMA_VERSION = 1


def corruptness_information(
    corrupt: Mapping[str, str], corrupt_videos: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """Lightly's ``corrupt_samples`` / ``corrupt_videos`` with bare type names as reasons
    (``"OSError"``), and our full reasons in ``corrupt_samples_details`` /
    ``corrupt_videos_details``."""
    samples, videos = dict(sorted(corrupt.items())), dict(sorted(corrupt_videos.items()))
    return {
        "corrupt_samples": {key: bare_reason(reason) for key, reason in samples.items()},
        "corrupt_videos": {key: bare_reason(reason) for key, reason in videos.items()},
        "corrupt_samples_details": samples,
        "corrupt_videos_details": videos,
    }


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def config_fingerprint(config_dict: Mapping[str, Any]) -> str:
    """Fingerprint of the resolved config (canonical JSON, keys sorted)."""
    return sha256_text(json.dumps(config_dict, sort_keys=True, default=str))


def data_fingerprint(keys: Sequence[str], hashes: Mapping[str, str]) -> str:
    """Fingerprint of the candidate set: sorted keys with the sha256 of their bytes."""
    return sha256_text("".join(f"{key}\t{hashes[key]}\n" for key in sorted(keys)))


def versions() -> dict[str, str]:
    """Versions of what decides the result, for reproducing a run."""
    found = {"lightly_runner": __version__, "python": platform.python_version()}
    for dist in (
        "torch",
        "torchvision",
        "lightning",
        "hydra-core",
        "omegaconf",
        "numpy",
        "pillow",
        "faiss-cpu",
        "weasyprint",
        "av",
    ):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


def write_run_outputs(
    *,
    run_dir: RunDirectory,
    cfg: RunConfig,
    config_dict: dict[str, Any],
    sources: Datasources,
    prepared: Prepared,
    embedded: EmbeddingResult,
    selection: SelectionResult,
    selected: Sequence[str],
    thumbnails: Mapping[str, str],
    timings: Mapping[str, float],
    analysis: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    datapool: Mapping[str, Any] | None = None,
    videos: Mapping[str, Any] | None = None,
    no_effect: Mapping[str, str] | None = None,
    crops: Mapping[str, Any] | None = None,
    hashes: Mapping[str, str] | None = None,
    training: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write selected filenames, embeddings, corruptness info, config and report.json.

    ``analysis`` (``runner.report.analysis.analyze``'s dict) is stored as ``report["analysis"]``,
    ``crops`` (``runner.crops.outputs.crops_section``) as ``report["crops"]``; ``hashes`` are
    the content hashes of ``embedded.keys`` when they are not samples' (object crops).
    """
    out = run_dir.path
    found, corrupt, duplicates = prepared.found, prepared.corrupt, prepared.duplicates
    pool = dict(datapool or {"enabled": False, "preselected": []})
    write_lines(contained(out, FILES["selected_filenames"]), selected)
    write_embeddings_csv(contained(out, FILES["embeddings"]), embedded.keys, embedded.embeddings)
    atomic_write_json(
        contained(out, FILES["corruptness_check_information"]),
        corruptness_information(corrupt, prepared.corrupt_videos),
    )
    atomic_write_json(contained(out, FILES["duplicates"]), dict(sorted(duplicates.items())))
    atomic_write_text(contained(out, FILES["config"]), yaml.safe_dump(config_dict, sort_keys=False))
    hashes = prepared.hashes if hashes is None else hashes
    files = dict(FILES) if crops is None else {**FILES, "crops": str(crops["file"])}
    report = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_dir.run_id,
        "state": "COMPLETED",
        "started_at": _iso(run_dir.run_id),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(sum(timings.values()), 3),
        "dataset": {"name": cfg.dataset.name, "type": cfg.dataset.type.value},
        "datasource": {
            "input": str(sources.input_dir),
            "lightly": str(sources.lightly_dir),
            "web_server_location": cfg.datasource.web_server_location,
        },
        "counts": {
            "found": _n_found(prepared),
            "videos": len(found.videos),
            "corrupt_videos": len(prepared.corrupt_videos),
            "skipped": found.n_skipped,
            "skipped_by_reason": {r: len(p) for r, p in sorted(found.skipped.items())},
            "corrupt": len(corrupt),
            "duplicates": len(duplicates),
            "preselected": len(pool["preselected"]),
            "candidates": len(embedded.keys) - len(pool["preselected"]),
            "selected": len(selected),
        },
        "datapool": pool,
        "timings_s": dict(timings),
        "model": dict(embedded.model),
        "embedding_cache": {"hits": embedded.cache_hits, "misses": embedded.cache_misses},
        "inspect_cache": {"hits": prepared.inspect_cache_hits},
        "fingerprints": {
            "config": config_fingerprint(config_dict),
            "data": data_fingerprint(embedded.keys, hashes),
            "model": str(embedded.model.get("fingerprint", "")),
        },
        "selection": {
            "n_requested": selection.n_requested,
            "n_selected": len(selected),
            "stopped_by": selection.stopped_by,
            "notes": list(selection.notes),
            "strategies": [dict(s) for s in selection.per_strategy],
        },
        "samples": {
            "selected": list(selected),
            "corrupt": dict(sorted(corrupt.items())),
            "corrupt_videos": dict(sorted(prepared.corrupt_videos.items())),
            "duplicates": dict(sorted(duplicates.items())),
            "skipped": {r: list(p) for r, p in sorted(found.skipped.items())},
        },
        "thumbnails": dict(thumbnails),
        "files": files,
        "versions": versions(),
        "config": config_dict,
        "config_no_effect": dict(no_effect or {}),
    }
    if analysis is not None:
        report["analysis"] = dict(analysis)
    if inputs is not None:
        report["inputs"] = dict(inputs)
    if videos is not None:
        report["videos"] = dict(videos)
    if crops is not None:
        report["crops"] = dict(crops)
    if training is not None:
        report["training"] = dict(training)
    atomic_write_json(contained(out, FILES["report_json"]), report)
    return report


def _n_found(prepared: Prepared) -> int:
    """Images found, or video frames found (candidates + corrupt + duplicates)."""
    if prepared.videos is None:
        return len(prepared.found.samples)
    return len(prepared.videos.samples) + len(prepared.corrupt) + len(prepared.duplicates)


def _iso(run_id: str) -> str:
    """The run id starts with its UTC start time (``YYYYmmdd-HHMMSS``)."""
    stamp = datetime.strptime(run_id[:15], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    return stamp.isoformat(timespec="seconds")
