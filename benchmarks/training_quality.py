"""Benchmark: does SimCLR fine-tuning (``worker.enable_training``) help selection, and how?

On the selection-quality sets (``benchmarks/quality_sets.py``), each set is embedded by the
real ``lightly-run``: once with the pretrained default model (EfficientNet-Lite0, 128 px), and
once per training recipe and seed after fine-tuning that model on the set itself for
``--epochs`` epochs from its pretrained weights. The default selection preset and random
draws select from each embedding; the linear probe of ``benchmarks/selection_quality.py``
scores the selections (accuracy / balanced accuracy on every sample not selected, mean over
the budgets).

Two halves, as in the selection-quality benchmark:

* **tuning**: every recipe of :data:`RECIPES` (Lightly's own, and the candidates for ours) on
  ``--tuning-sets`` with the first training seed; the default recipe was chosen here.
* **held-out**: the current default recipe (read from the config's defaults) on the held-out
  sets with every ``--train-seeds`` seed; nothing was chosen on these.

Every ``lightly-run`` result stays in ``--workdir`` (one Lightly mount per recipe, epochs and
seed), so a rerun with the same workdir re-trains nothing; keep it to split a long
measurement over several calls.

Usage: ``python benchmarks/training_quality.py --workdir DIR [--epochs 2] [--train-seeds 1 2]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import reference_methods as ref  # benchmarks/ is on sys.path
from docs_section import replace_section
from quality_sets import SETS
from selection_quality import SetData, embed, evaluate, preset_method, reference

from runner.config import FinetuneConfig
from runner.training.options import _KNOWN

SECTION = "## Training and selection quality"
HELD_OUT = [s.name for s in SETS if not s.tuning]
TUNING = [s.name for s in SETS if s.tuning]


@dataclass(frozen=True)
class Recipe:
    """A training recipe: the keys that differ between the candidates."""

    trainable_layers: int  # lightly.finetune.trainable_layers (-1: all)
    freeze_batch_norm: bool  # lightly.finetune.freeze_batch_norm
    lr: float  # lightly.optimizer.lr
    temperature: float  # lightly.criterion.temperature

    @property
    def name(self) -> str:
        layers = "all" if self.trainable_layers < 0 else f"last {self.trainable_layers}"
        bn = ", BN frozen" if self.freeze_batch_norm else ""
        return f"{layers} layers{bn}, lr {self.lr:g}, τ {self.temperature:g}"

    @property
    def slug(self) -> str:
        return (
            f"l{self.trainable_layers}-bn{int(self.freeze_batch_norm)}-lr{self.lr:g}"
            f"-t{self.temperature:g}"
        )

    def overrides(self) -> list[str]:
        return [
            f"lightly.finetune.trainable_layers={self.trainable_layers}",
            f"lightly.finetune.freeze_batch_norm={str(self.freeze_batch_norm).lower()}",
            f"lightly.optimizer.lr={self.lr}",
            f"lightly.criterion.temperature={self.temperature}",
        ]


LIGHTLY = Recipe(-1, False, 1.0, 0.5)  # Lightly's CLI: every weight, SGD lr 1.0, τ 0.5
RECIPES = (
    Recipe(2, True, 0.1, 0.5),  # the last stage and the head convolution
    Recipe(4, True, 0.1, 0.5),  # the last four stages
    Recipe(2, True, 0.1, 0.1),  # the last stage and the head, sharper contrast
    Recipe(-1, True, 0.1, 0.5),  # every layer at a lower learning rate, statistics kept
    LIGHTLY,
)


def default_recipe() -> Recipe:
    """The recipe a run gets without training keys: the config's current defaults."""
    finetune = FinetuneConfig()
    return Recipe(
        finetune.trainable_layers,
        finetune.freeze_batch_norm,
        float(_KNOWN["optimizer"]["lr"]),
        float(_KNOWN["criterion"]["temperature"]),
    )


def mean_scores(data: SetData, method: Any, seeds: range) -> np.ndarray:
    """(2,) accuracy and balanced accuracy, mean over budgets and seeds."""
    scores = evaluate(data, method, seeds)
    return np.mean([scores[b].mean(axis=0)[:2] for b in data.budgets], axis=0)


def pct(pair: np.ndarray) -> str:
    return f"{100 * pair[0]:.1f} / {100 * pair[1]:.1f}"


@dataclass
class Trained:
    """One recipe on one set: probe scores, training seconds and losses per seed."""

    scores: np.ndarray  # (seeds, 2)
    seconds: list[float]
    losses: list[list[float]]


class Bench:
    """Embeds sets with and without training (cached in ``root``) and scores them."""

    def __init__(self, root: Path, epochs: int, draws: int, cached_only: bool = False) -> None:
        self.root, self.epochs, self.draws = root, epochs, draws
        self.cached_only = cached_only  # score the runs made before, start none
        self.default = preset_method("default")
        self.base: dict[str, tuple[SetData, np.ndarray, np.ndarray]] = {}
        self.saved = root / "scores.json"  # probe scores by embedding file and method
        self.scores: dict[str, list[float]] = (
            json.loads(self.saved.read_text()) if self.saved.exists() else {}
        )

    def score(self, data: SetData, mount: str, method: str) -> np.ndarray:
        """``mean_scores`` of ``default`` or random draws, kept in ``scores.json``."""
        key = f"{mount}/{data.spec.name}/{method}/{self.draws}"
        if key not in self.scores:
            if method == "default":
                got = mean_scores(data, self.default, range(1))  # HERDING ignores the seed
            else:
                got = mean_scores(data, reference(ref.random_draw), range(self.draws))
            self.scores[key] = got.tolist()
            self._save()
        return np.array(self.scores[key])

    def _save(self) -> None:
        temp = self.saved.with_suffix(f".{os.getpid()}.tmp")  # parallel calls share the file
        temp.write_text(json.dumps(self.scores, indent=1))
        temp.replace(self.saved)

    def loads(self) -> str:
        """The range of load averages recorded as training runs ended, if any."""
        got = [v[0] for k, v in self.scores.items() if k.startswith("load/")]
        return f", {min(got):.1f}-{max(got):.1f} as training runs ended" if got else ""

    def pretrained(self, name: str) -> tuple[SetData, np.ndarray, np.ndarray]:
        """The set's pretrained embeddings, `default`'s scores and random draws' scores."""
        if name not in self.base:
            data = embed(self.root, _spec(name))
            self.base[name] = (
                data,
                self.score(data, "lightly", "default"),
                self.score(data, "lightly", "random"),
            )
        return self.base[name]

    def trained(self, name: str, recipe: Recipe, seeds: list[int]) -> Trained | None:
        """The recipe's runs on the set, one per seed (None: none made, with ``cached_only``)."""
        scores, seconds, losses = [], [], []
        for seed in seeds:
            mount = f"e{self.epochs}-s{seed}-{recipe.slug}"
            latest = self.root / mount / name / ".lightly" / "runs" / "latest"
            if self.cached_only and not (latest / "embeddings.csv").exists():
                continue
            overrides = [
                "worker.enable_training=true",
                f"lightly.trainer.max_epochs={self.epochs}",
                f"lightly.seed={seed}",
                *recipe.overrides(),
            ]
            started = time.perf_counter()
            fresh = not latest.exists()
            data = embed(self.root, _spec(name), overrides=overrides, mount=mount)
            if fresh:  # the load average as this run ended, for the docs
                self.scores[f"load/{mount}/{name}"] = [os.getloadavg()[0]]
                self._save()
            scores.append(self.score(data, mount, "default"))
            facts = _training_facts(self.root / mount / name)
            seconds.append(facts["seconds"])
            losses.append(facts["epoch_losses"])
            print(
                f"  {name} {recipe.name} seed {seed}: {pct(scores[-1])}"
                f" ({time.perf_counter() - started:.0f} s, load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        return Trained(np.array(scores), seconds, losses) if scores else None


def _spec(name: str) -> Any:
    return next(s for s in SETS if s.name == name)


def _training_facts(lightly: Path) -> dict[str, Any]:
    report = lightly / ".lightly" / "runs" / "latest" / "report.json"
    training: dict[str, Any] = json.loads(report.read_text())["training"]
    return training


def tuning_table(
    bench: Bench, sets: list[str], seed: int, recipes: list[Recipe]
) -> tuple[list[str], Recipe]:
    """The recipes on the tuning sets (one seed); returns the rows and the best recipe."""
    header = "| recipe | " + " | ".join(sets) + " | mean change |"
    base = [bench.pretrained(name) for name in sets]
    rows = [
        header,
        "|---|" + "---|" * (len(sets) + 1),
        "| pretrained (no training) | " + " | ".join(pct(b[1]) for b in base) + " | 0 / 0 |",
        "| random draw (pretrained) | " + " | ".join(pct(b[2]) for b in base) + " | |",
    ]
    changes: dict[Recipe, np.ndarray] = {}
    for recipe in recipes:
        runs = [bench.trained(name, recipe, [seed]) for name in sets]
        made = [r.scores[0] - b[1] for r, b in zip(runs, base, strict=True) if r is not None]
        if not made:
            continue
        changes[recipe] = np.mean(made, axis=0)
        rows.append(
            f"| {recipe.name} | "
            + " | ".join("not run" if r is None else pct(r.scores[0]) for r in runs)
            + f" | {100 * changes[recipe][0]:+.1f} / {100 * changes[recipe][1]:+.1f}"
            + ("" if len(made) == len(sets) else f" (over {len(made)} sets)")
            + " |"
        )
    best = max(changes, key=lambda r: float(changes[r].sum()))
    return rows, best


def held_out_rows(
    bench: Bench, sets: list[str], recipe: Recipe, seeds: list[int]
) -> tuple[list[str], str]:
    """The default recipe on the held-out sets; returns the rows and a one-line verdict."""
    better, worse, deltas = [], [], []
    rows = [
        "| set | N | pretrained | trained | change | random (pretrained) | train s | epoch"
        " losses per seed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in sets:
        data, base, random_draw = bench.pretrained(name)
        trained = bench.trained(name, recipe, seeds)
        if trained is None:
            rows.append(
                f"| {name} | {len(data.labels)} | {pct(base)} | not run | |"
                f" {pct(random_draw)} | | |"
            )
            continue
        t, delta = trained.scores, trained.scores - base
        loss_text = "; ".join(" → ".join(f"{x:.2f}" for x in run) for run in trained.losses)
        rows.append(
            f"| {name} | {len(data.labels)} | {pct(base)} |"
            f" {100 * t[:, 0].mean():.1f} ± {100 * t[:, 0].std():.1f}"
            f" / {100 * t[:, 1].mean():.1f} ± {100 * t[:, 1].std():.1f}"
            + ("" if len(t) == len(seeds) else f" ({len(t)} of {len(seeds)} seeds)")
            + f" | {100 * delta[:, 0].mean():+.1f} / {100 * delta[:, 1].mean():+.1f}"
            f" | {pct(random_draw)} | {np.mean(trained.seconds):.0f} | {loss_text} |"
        )
        print(rows[-1], flush=True)
        deltas.append(delta.mean(axis=0))
        if (delta > 0).all():
            better.append(name)
        elif (delta < 0).all():
            worse.append(name)
    if not deltas:
        return rows, ""
    mean = 100 * np.mean(deltas, axis=0)
    verdict = (
        f"Over the {len(deltas)} held-out sets, training changed the `default` preset's mean"
        f" accuracy / balanced accuracy by {mean[0]:+.1f} / {mean[1]:+.1f} points on average;"
        f" both better for every seed on {len(better)} ({', '.join(better) or 'none'}), both"
        f" worse for every seed on {len(worse)} ({', '.join(worse) or 'none'})."
    )
    return rows, verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--tuning-sets", nargs="*", default=TUNING)
    parser.add_argument("--sets", nargs="*", default=HELD_OUT, help="held-out sets to measure")
    parser.add_argument(
        "--recipes",
        nargs="*",
        default=[r.slug for r in RECIPES],
        choices=[r.slug for r in RECIPES],
        help="tuning recipes to run (default: all)",
    )
    parser.add_argument("--workdir", type=Path, help="keep the sets and embeddings here")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch docs")
    parser.add_argument(
        "--cached-only", action="store_true", help="score the runs in --workdir, start none"
    )
    args = parser.parse_args()
    command = "python " + " ".join(sys.argv)
    print(command, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(args.workdir or Path(tmp), args.epochs, args.draws, args.cached_only)
        tuning, best = (
            tuning_table(
                bench,
                args.tuning_sets,
                args.train_seeds[0],
                [r for r in RECIPES if r.slug in args.recipes],
            )
            if args.tuning_sets
            else ([], None)
        )
        print("\n".join(tuning), flush=True)
        recipe = default_recipe()
        held_out, verdict = held_out_rows(bench, args.sets, recipe, args.train_seeds)
        loads = bench.loads()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    cpu_note = (
        f"CPU time of the `lightly-run` processes of this call {cpu:.0f} s"
        if cpu > 1
        else "every run was made by earlier calls over the same workdir, this one scored them"
    )
    lines = [
        SECTION,
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python"
        f" {platform.python_version()}, no GPU; the machine was shared with other jobs (load"
        f" average {os.getloadavg()[0]:.1f} at the end{loads};"
        f" {cpu_note}). Date:"
        f" {datetime.now(UTC):%Y-%m-%d}. Command: `{command}`.",
        "",
        f"SimCLR fine-tuning for **{args.epochs} epoch{'s' * (args.epochs != 1)} only** (a"
        " 2-core CPU machine; without `--cached-only` the command trains every run missing"
        " from `--workdir`) from the"
        " pretrained EfficientNet-Lite0 on each set itself, batch 32, Lightly's augmentations."
        " Cells: linear-probe accuracy / balanced accuracy (%) of the `default` preset's"
        " selections, mean over budgets 10-200 (below N/2); random: the mean of"
        f" {args.draws} random draws on the pretrained embeddings, for scale. A recipe is"
        " `lightly.finetune.trainable_layers` (counted from the output; EfficientNet-Lite0"
        " has 9: stem, 7 stages, head), `lightly.finetune.freeze_batch_norm`,"
        " `lightly.optimizer.lr` and `lightly.criterion.temperature` (τ).",
        "",
    ]
    if tuning:
        lines += [
            f"### Tuning sets (the recipe was chosen here; training seed {args.train_seeds[0]})",
            "",
            *tuning,
            "",
            f"Best mean change (accuracy + balanced accuracy) on these sets: {best.name}."
            if best
            else "",
            f"Tuning sets left out to fit the shared machine: {', '.join(left_out)}."
            if (left_out := [n for n in TUNING if n not in args.tuning_sets])
            else "",
            f"Candidate recipes not run (time): {'; '.join(r.name for r in not_run)}."
            if (not_run := [r for r in RECIPES if r.slug not in args.recipes])
            else "",
            "",
        ]
    lines += [
        "### Held-out sets (nothing was chosen on these)",
        "",
        f"The default recipe ({recipe.name}); trained: mean ± s.d. over training seeds"
        f" {', '.join(map(str, args.train_seeds))}. `train s`: wall seconds of the training"
        " stage per seed on the shared machine, not a throughput figure. GPU training"
        " throughput is unmeasured (no GPU was lent to this measurement).",
        "",
        *held_out,
        "",
        verdict,
        "",
    ]
    print("\n".join(lines))
    if not args.no_write:
        replace_section("\n".join(lines))


if __name__ == "__main__":
    main()
