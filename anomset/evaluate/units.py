"""One unit of evaluation work: a detector trained on one job's training set with one seed, then scored.

A unit's result (its figures per target, the curves and a few heat maps for the plots) is stored as
one JSON file under the output's ``.anomset/eval/<eval hash>/``, written atomically, so a killed
evaluation reruns only the units without a file. Each file records what produced it (data hash,
test-set fingerprint, eval hash); a file that does not match is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from anomset.dataset.contract import STATE_DIR
from anomset.dataset.files import write_atomic
from anomset.evaluate import metrics as M
from anomset.evaluate.detectors.base import Detector, TestSet, TrainSet
from anomset.evaluate.protocols import Job

EVAL_STATE = "eval"
SCORE_BATCH = 16
HEATMAPS = 4  # localisation-grid examples kept per unit that draws them
HEATMAP_SIDE = 96


@dataclass(frozen=True)
class Unit:
    """detector × job (protocol, class, setting) × seed."""

    detector: str
    job: Job
    seed: int

    def identity(self) -> dict[str, Any]:
        return {"detector": self.detector, "protocol": self.job.protocol, "class": self.job.class_name,
                "setting": self.job.setting, "seed": self.seed}

    @property
    def uid(self) -> str:
        text = json.dumps(self.identity(), sort_keys=True)
        return f"{self.detector}-{self.job.protocol}-{self.job.class_name}-{self.seed}-" \
               f"{hashlib.sha256(text.encode()).hexdigest()[:12]}"

    def label(self) -> str:
        setting = ",".join(f"{k}={v}" for k, v in sorted(self.job.setting.items()))
        return f"{self.detector} {self.job.protocol} {self.job.class_name}{' ' + setting if setting else ''} " \
               f"seed {self.seed}"


class UnitStore:
    """The finished units of one evaluation (one folder per eval hash)."""

    def __init__(self, output: Path, eval_hash: str, provenance: dict[str, str]) -> None:
        self.folder = output / STATE_DIR / EVAL_STATE / eval_hash[:16]
        self.provenance = provenance

    def path(self, unit: Unit) -> Path:
        return self.folder / f"{unit.uid}.json"

    def load(self, unit: Unit) -> dict[str, Any] | None:
        """The stored result, or None when missing, unreadable or produced from other inputs."""
        try:
            record = json.loads(self.path(unit).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if record.get("unit") != json.loads(json.dumps(unit.identity())) or record.get("provenance") != self.provenance:
            return None
        return record

    def save(self, unit: Unit, record: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {"unit": unit.identity(), "provenance": self.provenance, **record}
        write_atomic(self.path(unit), json.dumps(data, sort_keys=True).encode("utf-8"))


def make_detector(cls: type[Detector], params: dict[str, Any], seed: int) -> Detector:
    """The detector with the unit's seed (when it takes one)."""
    return cls(**{**params, "seed": seed}) if "seed" in cls.Params.model_fields else cls(**params)


def score_set(detector: Detector, test: TestSet, metric_names: list[str], pixels: bool,
              tick: Callable[[int], None] = lambda n: None, keep_maps: int = 0) -> dict[str, Any]:
    """Figures of one scored set: exact image metrics, streamed pixel metrics, curves, a few heat maps.

    Maps are scored in batches and folded into the accumulator one by one, never all held at once.
    """
    accumulator = M.PixelMetricAccumulator()
    scores, kept = [], []
    anomalous = [i for i in range(len(test)) if test.labels[i] == 1][:keep_maps]
    for start in range(0, len(test), SCORE_BATCH):
        batch = slice(start, start + SCORE_BATCH)
        image_scores, maps = detector.score(test.images[batch])
        scores.append(np.asarray(image_scores, np.float64))
        if pixels:
            for score_map, mask in zip(maps, test.masks[batch], strict=True):
                accumulator.update(score_map, mask)
        for i in anomalous:
            if start <= i < start + SCORE_BATCH:
                kept.append((i, maps[i - start]))
        tick(len(maps))
    image_scores = np.concatenate(scores)
    figures: dict[str, float] = {}
    both = 0 < test.anomalies < len(test)
    if both:
        exact = {"image_auroc": M.auroc, "image_ap": M.average_precision, "image_f1_max": M.f1_max}
        figures.update({k: f(image_scores, test.labels) for k, f in exact.items() if k in metric_names})
    curves: dict[str, Any] = {"image": M.image_curves(image_scores, test.labels)} if both else {}
    if pixels and test.anomalies and any(m.startswith("pixel_") for m in metric_names):
        pm = accumulator.compute()
        named = {"pixel_auroc": pm.auroc, "pixel_ap": pm.average_precision, "pixel_f1_max": pm.f1_max,
                 "pixel_pro": pm.pro}
        figures.update({k: v for k, v in named.items() if k in metric_names})
        curves["pixel"] = M.pixel_curves(accumulator)
    if "accuracy" in metric_names and test.anomalies and hasattr(detector, "classify"):
        rows = np.flatnonzero(test.labels == 1)
        predicted = detector.classify(test.images[rows])  # type: ignore[attr-defined]
        figures["accuracy"] = M.accuracy(predicted, [test.defect_types[i] for i in rows])
    return {"metrics": figures, "curves": curves,
            "maps": [{"index": int(i), "key": test.keys[i], "map": _heat(m)} for i, m in kept]}


def run_unit(unit: Unit, detector_cls: type[Detector], params: dict[str, Any], train: TrainSet,
             targets: list[tuple[dict[str, Any], TestSet, bool]], metric_names: list[str],
             tick: Callable[[int], None] = lambda n: None, keep_maps: int = 0,
             status: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Fit on ``train`` and score every target ``(row setting, test set, pixel metrics?)``; ``status`` hears
    what the unit is doing (training epochs, scoring)."""
    started = time.perf_counter()
    detector = make_detector(detector_cls, params, unit.seed)
    detector.progress = lambda line: status(f"training {unit.label()}: {line}")
    status(f"training {unit.label()}")
    detector.fit(train)
    fit_seconds = time.perf_counter() - started
    status(f"scoring {unit.label()}")
    rows = []
    for setting, test, pixels in targets:
        result = score_set(detector, test, metric_names, pixels, tick, keep_maps)
        rows.append({"class": unit.job.class_name, "setting": setting, **result})
        keep_maps = 0  # only the first target draws the localisation grid
    # fit_seconds is for throughput reports only; no results row depends on it
    return {"train_samples": len(train), "train_anomalies": train.anomalies, "fit_seconds": fit_seconds,
            "rows": rows}


def _heat(score_map: np.ndarray) -> list[list[int]]:
    """A small 0..255 copy of a map (min-max over the map) for the localisation grid."""
    small = cv2.resize(score_map.astype(np.float32), (HEATMAP_SIDE, HEATMAP_SIDE), interpolation=cv2.INTER_AREA)
    low, high = float(small.min()), float(small.max())
    scaled = (small - low) / (high - low) if high > low else np.zeros_like(small)
    return (scaled * 255).round().astype(np.uint8).tolist()
