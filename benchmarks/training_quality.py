"""Benchmark: does SimCLR fine-tuning (``worker.enable_training``) change selection quality?

On the selection-quality sets (``benchmarks/quality_sets.py``), each set is embedded by the
real ``lightly-run`` twice: with the pretrained default model (EfficientNet-Lite0, 128 px), and
after training it for ``--epochs`` epochs on the set itself from those pretrained weights, once
per ``--train-seeds`` seed (``lightly.seed``; every other training key at its default, which
are Lightly's: SGD lr 1.0, weight decay 1e-5, NT-Xent temperature 0.5, batch 32). The default
selection preset and random draws then select from each embedding, and the linear probe of
``benchmarks/selection_quality.py`` scores the selections (accuracy / balanced accuracy on
every sample not selected, mean over the budgets).

On the 2-core machine only a few epochs fit; the result says what a few epochs do, not what
training to convergence would.

Usage: ``python benchmarks/training_quality.py [--epochs 2] [--train-seeds 1 2] [--sets ...]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import reference_methods as ref  # benchmarks/ is on sys.path
from docs_section import replace_section
from quality_sets import SETS
from selection_quality import SetData, embed, evaluate, preset_method, reference

SECTION = "## Training and selection quality"
HELD_OUT = [s.name for s in SETS if not s.tuning]


def mean_scores(data: SetData, method: Any, seeds: range) -> np.ndarray:
    """(2,) accuracy and balanced accuracy, mean over budgets and seeds."""
    scores = evaluate(data, method, seeds)
    return np.mean([scores[b].mean(axis=0)[:2] for b in data.budgets], axis=0)


def training_facts(root: Path, mount: str, name: str) -> dict[str, Any]:
    report = root / mount / name / ".lightly" / "runs" / "latest" / "report.json"
    training: dict[str, Any] = json.loads(report.read_text())["training"]
    return training


def measure(args: argparse.Namespace, root: Path) -> list[str]:
    default = preset_method("default")
    random_draw = reference(ref.random_draw)
    rows = []
    for spec in (s for s in SETS if s.name in args.sets):
        start = time.perf_counter()
        base = embed(root, spec)
        base_default = mean_scores(base, default, range(1))  # HERDING ignores the seed
        base_random = mean_scores(base, random_draw, range(args.draws))
        trained, seconds, losses = [], [], []
        for seed in args.train_seeds:
            mount = f"trained-e{args.epochs}-s{seed}"
            overrides = [
                "worker.enable_training=true",
                f"lightly.trainer.max_epochs={args.epochs}",
                f"lightly.seed={seed}",
            ]
            data = embed(root, spec, overrides=overrides, mount=mount)
            trained.append(mean_scores(data, default, range(1)))
            facts = training_facts(root, mount, spec.name)
            seconds.append(facts["seconds"])
            losses.append(facts["epoch_losses"])
        t = np.array(trained)  # (seeds, 2)
        delta = t - base_default  # (seeds, 2)
        loss_text = "; ".join(" → ".join(f"{x:.2f}" for x in run) for run in losses)
        rows.append(
            f"| {spec.name} | {len(base.labels)} | {100 * base_default[0]:.1f} /"
            f" {100 * base_default[1]:.1f} | {100 * t[:, 0].mean():.1f} ± {100 * t[:, 0].std():.1f}"
            f" / {100 * t[:, 1].mean():.1f} ± {100 * t[:, 1].std():.1f}"
            f" | {100 * delta[:, 0].mean():+.1f} / {100 * delta[:, 1].mean():+.1f}"
            f" | {100 * base_random[0]:.1f} / {100 * base_random[1]:.1f}"
            f" | {np.mean(seconds):.0f} | {loss_text} |"
        )
        print(rows[-1], f"({time.perf_counter() - start:.0f} s)", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--sets", nargs="+", default=HELD_OUT)
    parser.add_argument("--workdir", type=Path, help="keep the sets and embeddings here")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch docs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(args, args.workdir or Path(tmp))
    load = os.getloadavg()[0]
    lines = [
        SECTION,
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python"
        f" {platform.python_version()}, no GPU (load average {load:.1f} at the end: the"
        f" machine was shared). Date: {datetime.now(UTC):%Y-%m-%d}. Command:"
        f" `python {' '.join(sys.argv)}`.",
        "",
        f"SimCLR fine-tuning for **{args.epochs} epochs only** (a 2-core CPU machine) from the"
        " pretrained EfficientNet-Lite0, every other training key at its (Lightly's) default;"
        f" training seeds {', '.join(map(str, args.train_seeds))}. Cells: linear-probe accuracy"
        " / balanced accuracy (%) of the `default` preset's selections, mean over budgets"
        " 10-200 (below N/2); trained: mean ± s.d. over the training seeds; random: the mean"
        f" of {args.draws} random draws on the pretrained embeddings, for scale. `train s`:"
        " wall seconds of the training stage per seed on the shared machine, not a throughput"
        " figure (with the load this high, torch's two intra-op threads contend with other"
        " jobs' processes). GPU training throughput is unmeasured (no GPU was lent to this"
        " measurement).",
        "",
        "| set | N | pretrained | trained | change | random (pretrained) | train s | epoch"
        " losses per seed |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    print("\n".join(lines))
    if not args.no_write:
        replace_section("\n".join(lines))


if __name__ == "__main__":
    main()
