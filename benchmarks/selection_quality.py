"""Benchmark: is a labelled selection worth more than a random draw of the same size?

Eight labelled image sets with distinct structure (``benchmarks/quality_sets.py``: balanced,
long tail, tight minority, near-duplicate video frames, fine-grained digits balanced and
imbalanced, degraded), all made from data bundled in PyPI packages. Each set is embedded once
by the real ``lightly-run`` (default model, default settings); every method then selects from
all of its samples:

* every shipped preset (``conf/selection/*.yaml``), through the product's own ``select()``
  with the composed preset config and ``lightly.seed`` = the seed;
* random draws (``--draws``, mean and s.d.), k-means medoids, TypiClust and ProbCover
  (``benchmarks/reference_methods.py``), ``--seeds`` seeds each.

A logistic-regression probe (scikit-learn defaults, features standardised over all samples)
is trained on the selected samples' embeddings and scored on every sample *not* selected:
accuracy, balanced accuracy and the number of classes the selection covers. Budgets 10, 20, 50,
100 and 200, those below N/2.

Held-out discipline: the sets are split in a tuning half (parameters may be chosen there) and a
held-out half; the tables and the check of the default preset are written for each half
separately, and docs quote the held-out half.

Usage: ``python benchmarks/selection_quality.py [--seeds 5] [--draws 20] [--sets ...]``
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import reference_methods as ref  # benchmarks/ is on sys.path
from docs_section import replace_section
from quality_sets import SETS, LabelledSet

from runner.selection.projection import unit_projection

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Selection quality"
BUDGETS = (10, 20, 50, 100, 200)
Method = Callable[[npt.NDArray[np.float32], npt.NDArray[np.float32], int, int], list[int]]


@dataclass
class SetData:
    """One embedded labelled set."""

    spec: LabelledSet
    embeddings: npt.NDArray[np.float32]  # (N, D) as the run wrote them
    projected: npt.NDArray[np.float32]  # (N, 64) for the reference methods
    features: npt.NDArray[np.float64]  # (N, D) standardised, for the probe
    labels: npt.NDArray[np.str_]  # (N,)

    @property
    def budgets(self) -> list[int]:
        return [b for b in BUDGETS if b < len(self.labels) / 2]


def embed(
    root: Path, spec: LabelledSet, *, overrides: Sequence[str] = (), mount: str = "lightly"
) -> SetData:
    """Build the set's folder, run ``lightly-run`` once, read its ``embeddings.csv``.

    ``overrides`` are extra ``lightly-run`` arguments; ``mount`` names the Lightly mount under
    ``root`` (one per configuration, so runs never share a cache or a ``latest``).
    """
    from sklearn.preprocessing import StandardScaler

    if not (root / "input" / spec.name).exists():
        spec.build(root / "input" / spec.name)
    lightly = root / mount / spec.name
    csv_path = lightly / ".lightly" / "runs" / "latest" / "embeddings.csv"
    if not csv_path.exists():
        (lightly / ".lightly").mkdir(parents=True, exist_ok=True)
        script = Path(sys.executable).parent / "lightly-run"
        args = [
            f"mounts.input_mount={root / 'input'}",
            f"mounts.lightly_mount={root / mount}",
            f"datasource.input.relative_path={spec.name}",
            f"datasource.lightly.relative_path={spec.name}",
            "selection.n_samples=1",
            *overrides,
        ]
        done = subprocess.run([str(script), *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"lightly-run failed on {spec.name}:\n{done.stderr}")
    with csv_path.open() as f:
        rows = list(csv.reader(f))[1:]
    embeddings = np.array([[float(v) for v in r[1:-1]] for r in rows], dtype=np.float32)
    labels = np.array([r[0].split("/")[0] for r in rows])
    features = StandardScaler().fit_transform(embeddings)
    return SetData(spec, embeddings, unit_projection(embeddings), features, labels)


def preset_method(preset: str) -> Method:
    """A shipped preset as a method: its composed config through the product's ``select()``."""
    import hydra
    from hydra.core.global_hydra import GlobalHydra

    from runner.cli import to_run_config
    from runner.config import register_configs
    from runner.resources import config_dir
    from runner.selection.select import select

    register_configs()
    GlobalHydra.instance().clear()
    with hydra.initialize_config_dir(str(config_dir()), version_base="1.3"):
        composed = hydra.compose(
            config_name="config",
            overrides=[f"selection={preset}", "selection.n_samples=1", "mounts.input_mount=/i",
                       "mounts.lightly_mount=/l"],
        )  # fmt: skip
    cfg = to_run_config(composed).selection
    GlobalHydra.instance().clear()

    def run(embeddings: npt.NDArray[np.float32], _: object, budget: int, seed: int) -> list[int]:
        return select(embeddings=embeddings, cfg=replace(cfg, n_samples=budget), seed=seed).indices

    return run


def reference(function: Callable[[npt.NDArray[np.float32], int, int], list[int]]) -> Method:
    return lambda _, projected, budget, seed: function(projected, budget, seed)


def probe(data: SetData, picks: Sequence[int]) -> tuple[float, float, int]:
    """Accuracy and balanced accuracy on the rows not picked, and the classes covered."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    train = np.asarray(picks, dtype=np.int64)
    test = np.setdiff1d(np.arange(len(data.labels)), train)
    classes = set(data.labels[train].tolist())
    if len(classes) < 2:
        predicted = np.full(test.size, data.labels[train][0])
    else:
        model = LogisticRegression(max_iter=3000).fit(data.features[train], data.labels[train])
        predicted = model.predict(data.features[test])
    truth = data.labels[test]
    return (
        float(np.mean(predicted == truth)),
        balanced_accuracy_score(truth, predicted),
        len(classes),
    )


Scores = dict[int, npt.NDArray[np.float64]]  # budget -> (runs, 3): accuracy, balanced, classes


def evaluate(data: SetData, method: Method, seeds: Sequence[int]) -> Scores:
    return {
        b: np.array([probe(data, method(data.embeddings, data.projected, b, s)) for s in seeds])
        for b in data.budgets
    }


def _cell(scores: npt.NDArray[np.float64], spread: bool) -> str:
    mean, sd = scores.mean(axis=0), scores.std(axis=0)
    if spread:
        return f"{100 * mean[0]:.1f} ± {100 * sd[0]:.1f} / {100 * mean[1]:.1f} ± {100 * sd[1]:.1f}"
    return f"{100 * mean[0]:.1f} / {100 * mean[1]:.1f} ({mean[2]:.1f})"


def check_default(results: dict[str, Scores], budgets: Sequence[int]) -> list[str]:
    """Where ``default`` misses the bar: random mean - s.d./2 per budget, k-means - 2 on average."""
    misses = []
    for b in budgets:
        for j, metric in ((0, "accuracy"), (1, "balanced accuracy")):
            rnd = results["random"][b][:, j]
            got = float(results["default"][b][:, j].mean())
            if got < rnd.mean() - rnd.std() / 2:
                misses.append(
                    f"{metric} at {b}: {100 * got:.1f} < {100 * (rnd.mean() - rnd.std() / 2):.1f}"
                )
    for j, metric in ((0, "accuracy"), (1, "balanced accuracy")):
        ours = np.mean([results["default"][b][:, j].mean() for b in budgets])
        kmeans = np.mean([results["k-means medoids"][b][:, j].mean() for b in budgets])
        if ours < kmeans - 0.02:
            misses.append(f"mean {metric}: {100 * ours:.1f} < k-means {100 * kmeans:.1f} - 2")
    return misses


def table(data: SetData, results: dict[str, Scores]) -> list[str]:
    budgets = data.budgets
    lines = [
        f"**{data.spec.name}** — {data.spec.structure}, N = {len(data.labels)},"
        f" {len(set(data.labels.tolist()))} classes",
        "",
        "| method | " + " | ".join(str(b) for b in budgets) + " | mean acc / bal |",
        "|---|" + "---|" * (len(budgets) + 1),
    ]
    for name, scores in results.items():
        cells = [_cell(scores[b], name == "random") for b in budgets]
        mean = np.mean([scores[b].mean(axis=0)[:2] for b in budgets], axis=0)
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {100 * mean[0]:.1f} / {100 * mean[1]:.1f} |"
        )
    misses = check_default(results, budgets)
    verdict = "meets the bar everywhere" if not misses else "misses: " + "; ".join(misses)
    return [*lines, "", f"`default`: {verdict}.", ""]


def summary(evaluated: list[tuple[SetData, dict[str, Scores]]]) -> list[str]:
    """One line per half: where ``default`` meets the bar, and where it has the best mean."""
    if not evaluated:
        return []
    passed = [d.spec.name for d, r in evaluated if not check_default(r, d.budgets)]
    best: dict[str, list[str]] = {"accuracy": [], "balanced accuracy": []}
    for data, results in evaluated:
        for j, metric in enumerate(best):
            means = {
                name: np.mean([scores[b][:, j].mean() for b in data.budgets])
                for name, scores in results.items()
            }
            if max(means, key=lambda name: means[name]) == "default":
                best[metric].append(data.spec.name)
    names = ", ".join(d.spec.name for d, _ in evaluated)
    return [
        f"Summary ({names}): `default` meets the bar on {len(passed)} of {len(evaluated)}"
        f" sets ({', '.join(passed) or 'none'}); it has the best mean accuracy of all methods"
        f" on {len(best['accuracy'])} ({', '.join(best['accuracy']) or 'none'}) and the best"
        f" mean balanced accuracy on {len(best['balanced accuracy'])}"
        f" ({', '.join(best['balanced accuracy']) or 'none'}).",
        "",
    ]


def methods() -> dict[str, Method]:
    presets = sorted(p.stem for p in (REPO / "conf" / "selection").glob("*.yaml"))
    found: dict[str, Method] = {p: preset_method(p) for p in presets}
    found["k-means medoids"] = reference(ref.kmeans_medoids)
    found["TypiClust"] = reference(ref.typiclust)
    found["ProbCover"] = reference(ref.probcover)
    return found


def write_section(
    tables: dict[bool, list[str]],
    summaries: dict[bool, list[str]],
    args: argparse.Namespace,
    command: str,
) -> None:
    lines = [
        SECTION,
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python"
        f" {platform.python_version()}, no GPU. Date: {datetime.now(UTC):%Y-%m-%d}."
        f" Command: `{command}`. Seeds: {args.seeds} per seeded method (`lightly.seed` for the"
        f" presets), {args.draws} random draws.",
        "",
        "Each cell: linear-probe accuracy / balanced accuracy (%) on every sample not selected,"
        " then the classes covered, mean over the seeds; random: mean ± s.d. of the draws."
        " The probe is a logistic regression (scikit-learn defaults) on the default model's"
        " embeddings (EfficientNet-Lite0 at 128 px), standardised over all samples."
        " `default` is HERDING; `diversity` is Lightly's k-center;"
        " `representative` is DIVERSITY x TYPICALITY. The bar for `default`: at every budget,"
        " accuracy and balanced accuracy >= random's mean - s.d./2, and on average over the"
        " budgets >= k-means medoids - 2 points.",
        "",
        "Caveats: the held-out sets mirror failure cases reported before this benchmark"
        " existed (tight minority, long tail, imbalanced digits); during the first"
        " exploration three HERDING bandwidths were also looked at on two of them before"
        " the parameters were fixed on the tuning half (where the same value was best)."
        " HERDING does not use the seed, so its five runs are identical. `default` meets"
        " the bar but is not the best method everywhere: in balanced accuracy at 10-20"
        " labels DIVERSITY covers more classes of the long tail and ProbCover does better"
        " on the tight minority.",
        "",
        "### Held-out sets (no parameter was chosen on these)",
        "",
        *summaries[False],
        *tables[False],
        "### Tuning sets (HERDING's bandwidth 0.5 and k = 30 were chosen here)",
        "",
        *summaries[True],
        *tables[True],
    ]
    replace_section("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--sets", nargs="+", default=[s.name for s in SETS])
    parser.add_argument("--workdir", type=Path, help="keep the sets and embeddings here")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch docs")
    args = parser.parse_args()
    found = methods()
    tables: dict[bool, list[str]] = {True: [], False: []}
    evaluated: dict[bool, list[tuple[SetData, dict[str, Scores]]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.workdir or Path(tmp)
        for spec in (s for s in SETS if s.name in args.sets):
            start = time.perf_counter()
            data = embed(root, spec)
            results = {"random": evaluate(data, reference(ref.random_draw), range(args.draws))}
            for name, method in found.items():
                results[name] = evaluate(data, method, range(args.seeds))
            lines = table(data, results)
            print("\n".join(lines), f"({time.perf_counter() - start:.0f} s)", flush=True)
            tables[spec.tuning] += lines
            evaluated[spec.tuning].append((data, results))
    summaries = {half: summary(found) for half, found in evaluated.items()}
    print("\n".join(summaries[False] + summaries[True]))
    if not args.no_write:
        write_section(tables, summaries, args, "python " + " ".join(sys.argv))


if __name__ == "__main__":
    main()
