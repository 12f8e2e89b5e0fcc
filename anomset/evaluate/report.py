"""Rank 0's merge: unit records → results.json detector rows (mean ± std over seeds) and the plots.

Only detector rows and plots are written here; the ``quality`` section of an existing results.json
is kept as it is (and read by the correlation protocol).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anomset.dataset.contract import RESULTS_DIR
from anomset.dataset.files import encode_png, write_atomic
from anomset.evaluate import plots
from anomset.evaluate.protocols import correlations
from anomset.evaluate.units import Unit
from anomset.hub.detector_results import (
    RESULTS_PATH,
    SCHEMA,
    DatasetRef,
    Plot,
    ResultRow,
    Results,
    Stat,
    read_results,
)

CURVE_METRIC = "pixel_auroc"  # the figure drawn on ratio / count curves and matrices, when present


@dataclass(frozen=True)
class Provenance:
    """What produced every row of one evaluation."""

    data_hash: str
    dataset_recipe_hash: str
    test_fingerprint: str
    eval_hash: str
    repo: str = ""
    revision: str = ""


def detector_rows(records: list[tuple[Unit, dict[str, Any]]], provenance: Provenance) -> list[ResultRow]:
    """One row per detector × protocol × class × row setting: each metric's mean and std over the seeds."""
    grouped: dict[tuple[str, str, str, str], dict[int, dict[str, float]]] = defaultdict(dict)
    for unit, record in records:
        for row in record["rows"]:
            key = (unit.detector, unit.job.protocol, row["class"], json.dumps(row["setting"], sort_keys=True))
            grouped[key][unit.seed] = row["metrics"]
    out = []
    for (detector, protocol, class_name, setting), by_seed in sorted(grouped.items()):
        seeds = sorted(by_seed)
        names = sorted({m for figures in by_seed.values() for m in figures})
        stats = {}
        for name in names:
            values = np.array([by_seed[s][name] for s in seeds if name in by_seed[s]], np.float64)
            stats[name] = Stat(mean=float(values.mean()), std=float(values.std()))
        if stats:
            out.append(ResultRow(detector=detector, protocol=protocol, class_=class_name,
                                 setting=json.loads(setting), seeds=seeds, metrics=stats,
                                 dataset_recipe_hash=provenance.dataset_recipe_hash,
                                 test_fingerprint=provenance.test_fingerprint, eval_hash=provenance.eval_hash))
    return out


def correlation_rows(rows: list[ResultRow], quality: Results | None, detector_metric: str,
                     provenance: Provenance) -> tuple[list[ResultRow], list[str]]:
    """Per detector and class, Spearman / Pearson between each quality figure and the hybrid single-generator
    scores, across generators; and a note when there is nothing to correlate."""
    if quality is None or not quality.quality:
        return [], ["correlation: results.json has no quality figures (anomset quality adds them); skipped"]
    scores: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    seeds: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        generators = str(row.setting.get("generators", ""))
        if row.protocol == "hybrid" and generators and "+" not in generators and detector_metric in row.metrics:
            scores[(row.detector, row.class_)][generators] = row.metrics[detector_metric].mean
            seeds[(row.detector, row.class_)] = row.seeds
    by_class: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for q in quality.quality:
        for name, stat in q.metrics.items():
            by_class[q.class_][name][q.generator] = stat.mean
    out, notes = [], []
    for (detector, class_name), per_generator in sorted(scores.items()):
        for metric, values in sorted(by_class.get(class_name, {}).items()):
            figures = correlations(values, per_generator)
            if figures is None:
                notes.append(f"correlation: {detector} {class_name} {metric}: fewer than 3 generators with "
                             "varying figures; skipped")
                continue
            out.append(ResultRow(
                detector=detector, protocol="correlation", class_=class_name,
                setting={"quality_metric": metric, "detector_metric": detector_metric},
                seeds=seeds[(detector, class_name)],
                metrics={k: Stat(mean=v, std=0.0) for k, v in figures.items()},
                dataset_recipe_hash=provenance.dataset_recipe_hash, test_fingerprint=provenance.test_fingerprint,
                eval_hash=provenance.eval_hash))
    return out, notes


def merge_results(previous: Results | None, rows: list[ResultRow], plot_list: list[Plot],
                  provenance: Provenance) -> Results:
    """The new results.json: these rows replace rows of the same key; other detectors' rows stay while they
    refer to the same data; the quality section is kept."""
    same_data = previous is not None and previous.dataset.data_hash == provenance.data_hash
    keys = {r.key() for r in rows}
    kept = [r for r in previous.results if r.key() not in keys] if same_data and previous else []
    paths = {p.path for p in plot_list}
    old_plots = [p for p in previous.plots if p.path not in paths] if same_data and previous else []
    return Results(schema_=SCHEMA, dataset=DatasetRef(repo=provenance.repo, revision=provenance.revision,
                                                      data_hash=provenance.data_hash),
                   results=[*kept, *rows], quality=list(previous.quality) if same_data and previous else [],
                   plots=[*old_plots, *plot_list])


def write_results(out: Path, results: Results) -> Path:
    path = out / RESULTS_PATH
    data = results.model_dump(mode="json", by_alias=True)
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8"))
    return path


def previous_results(out: Path) -> Results | None:
    return read_results(out)


# -- plots ----------------------------------------------------------------------------------------
def _write(out: Path, name: str, image: np.ndarray, caption: str, plot_list: list[Plot]) -> None:
    write_atomic(out / RESULTS_DIR / name, encode_png(image, 3))
    plot_list.append(Plot(path=f"{RESULTS_DIR}/{name}", caption=caption))


def _first_seed(records: list[tuple[Unit, dict[str, Any]]]) -> list[tuple[Unit, dict[str, Any]]]:
    first = min((u.seed for u, _ in records), default=0)
    return [(u, r) for u, r in records if u.seed == first]


def write_plots(out: Path, records: list[tuple[Unit, dict[str, Any]]], rows: list[ResultRow],
                examples: dict[str, list[tuple[str, np.ndarray, np.ndarray]]]) -> list[Plot]:
    """Every plot the records allow, under ``out/benchmarks``; ``examples`` maps class → (key, image, mask)
    of the real test images (for the localisation grid)."""
    plot_list: list[Plot] = []
    plain = [(u, r) for u, r in _first_seed(records) if u.job.protocol == "plain"]
    for class_name in sorted({u.job.class_name for u, _ in plain}):
        for level in ("image", "pixel"):
            roc, pr = [], []
            for unit, record in plain:
                curves = record["rows"][0]["curves"].get(level) if unit.job.class_name == class_name else None
                if curves:
                    roc.append((unit.detector, curves["fpr"], curves["tpr"]))
                    pr.append((unit.detector, curves["recall"], curves["precision"]))
            if roc:
                chart = np.concatenate([
                    plots.line_chart(f"{class_name}: {level} ROC", roc, "false positive rate", "TPR",
                                     (0, 1), diagonal=True),
                    plots.line_chart(f"{class_name}: {level} PR", pr, "recall", "precision", (0, 1))], axis=1)
                _write(out, f"roc_pr_{level}_{class_name}.png", chart,
                       f"{class_name}: {level}-level ROC and PR (plain protocol, seed {plain[0][0].seed})", plot_list)
    for protocol, knob, label in (("ratio", "synthetic_ratio", "synthetic : real ratio"),
                                  ("count", "synthetic_count", "synthetic anomalies")):
        series = _curve_series(rows, protocol, knob)
        if series:
            metric = series[0][3]
            _write(out, f"{protocol}_curve.png",
                   plots.line_chart(f"{metric} vs {label}", [s[:3] for s in series], label, metric),
                   f"{metric} against the {label} ({protocol} protocol), mean over seeds", plot_list)
    for protocol, row_key, column_key in (("cross", "class", "test_class"),
                                          ("simulated", "train_generator", "test_generator")):
        for title, matrix in _matrices(rows, protocol, row_key, column_key):
            name = f"{protocol}_{title.replace(' ', '_')}.png"
            _write(out, name, plots.heatmap(f"{protocol}: {title}", *matrix, row_key.replace("class", "train class"),
                                            column_key), f"{protocol} matrix, {title} (mean over seeds)", plot_list)
    grid = []
    for unit, record in plain:
        chosen = {key: (image, mask) for key, image, mask in examples.get(unit.job.class_name, [])}
        for kept in record["rows"][0].get("maps", []):
            if kept["key"] in chosen:
                image, mask = chosen[kept["key"]]
                grid.append((f"{unit.detector} {unit.job.class_name} {kept['key'][-28:]}", image, mask,
                             np.array(kept["map"], np.uint8)))
    if grid:
        _write(out, "localisation.png", plots.localisation_grid(grid[:24]),
               "real test images, ground truth and predicted heat maps (plain protocol)", plot_list)
    return plot_list


def _metric_of(rows: list[ResultRow]) -> str | None:
    names = {m for r in rows for m in r.metrics}
    return CURVE_METRIC if CURVE_METRIC in names else (sorted(names)[0] if names else None)


def _curve_series(rows: list[ResultRow], protocol: str, knob: str) -> list[tuple[str, list[float], list[float], str]]:
    chosen = [r for r in rows if r.protocol == protocol and knob in r.setting]
    metric = _metric_of(chosen)
    if metric is None:
        return []
    series = []
    for detector, class_name in sorted({(r.detector, r.class_) for r in chosen}):
        points = sorted((float(r.setting[knob]), r.metrics[metric].mean) for r in chosen
                        if (r.detector, r.class_) == (detector, class_name) and metric in r.metrics)
        series.append((f"{detector} {class_name}", [p[0] for p in points], [p[1] for p in points], metric))
    return series


def _matrices(rows: list[ResultRow], protocol: str, row_key: str, column_key: str):
    chosen = [r for r in rows if r.protocol == protocol]
    metric = _metric_of(chosen)
    if metric is None:
        return
    groups: dict[str, list[ResultRow]] = defaultdict(list)
    for r in chosen:
        groups[r.detector if row_key == "class" else f"{r.detector} {r.class_}"].append(r)
    for title, members in sorted(groups.items()):
        def row_of(r: ResultRow) -> str:
            return r.class_ if row_key == "class" else str(r.setting[row_key])

        names_r = sorted({row_of(r) for r in members})
        names_c = sorted({str(r.setting[column_key]) for r in members})
        values = np.full((len(names_r), len(names_c)), np.nan)
        for r in members:
            if metric in r.metrics:
                values[names_r.index(row_of(r)), names_c.index(str(r.setting[column_key]))] = r.metrics[metric].mean
        yield f"{title} {metric}", (names_r, names_c, values)
