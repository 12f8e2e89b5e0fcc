"""The card's view of the quality filters: kept share per class and entry (manifest ``quality``) and one
score histogram per class and generator (``assets/ars-<class>-<generator>.png``) drawn from the audit
``quality/candidates.jsonl``: every candidate in grey, the kept ones in blue on top."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from anomset.dataset.contract import ASSETS_DIR, CANDIDATES
from anomset.dataset.files import encode_png, write_atomic
from anomset.grid import PNG_COMPRESSION

PLOT_PREFIX = "ars-"
BINS = 30
WIDTH, HEIGHT, MARGIN = 360, 180, 24
ALL_COLOUR, KEPT_COLOUR = (190, 190, 190), (40, 90, 200)


def filter_context(out: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """``quality_rows`` (one per class and entry with a filter) and ``quality_plots`` for the template."""
    summary = manifest.get("quality") or {}
    rows = [{"class": e["class"], "entry": e["entry"], "generator": e["generator"], "filter": e["filter"],
             "rule": f"{e['rule']} {e['threshold']}", "candidates": e["candidates"], "kept": e["kept"],
             "kept_share": f"{100 * e['kept_share']:.1f}%",
             "kept_min": f"{e['kept_score']['min']:.3f}" if e.get("kept_score") else "—"}
            for e in summary.get("entries", [])]
    return {"quality_rows": rows, "quality_plots": write_score_plots(out, manifest) if rows else [],
            "candidates_file": CANDIDATES if rows else ""}


def read_candidates(out: Path) -> list[dict[str, Any]]:
    """The audit's rows (empty when the build had no quality filter)."""
    path = out / CANDIDATES
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_score_plots(out: Path, manifest: dict[str, Any]) -> list[dict[str, str]]:
    """One histogram PNG per class and generator; stale ones are removed. Returns path and caption each."""
    generators = {(e["class"], e["entry"]): e["generator"] for e in (manifest.get("quality") or {}).get("entries", [])}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in read_candidates(out):
        generator = generators.get((row["class"], row["entry"]), row["entry"])
        groups.setdefault((row["class"], generator), []).append(row)
    written, keep = [], set()
    for (class_name, generator), rows in sorted(groups.items()):
        scores = np.array([r["score"] for r in rows], np.float64)
        kept = np.array([r["kept"] for r in rows], bool)
        name = f"{PLOT_PREFIX}{_safe(class_name)}-{_safe(generator)}.png"
        write_atomic(out / ASSETS_DIR / name, encode_png(histogram(scores, kept), PNG_COMPRESSION))
        keep.add(name)
        filters = sorted({r["filter"] for r in rows})
        written.append({"path": f"{ASSETS_DIR}/{name}",
                        "caption": f"{class_name} / {generator}: {'/'.join(filters)} scores of {len(rows)} candidates "
                                   f"(grey), {int(kept.sum())} kept (blue)"})
    for stale in (out / ASSETS_DIR).glob(f"{PLOT_PREFIX}*.png"):
        if stale.name not in keep:
            stale.unlink()
    return written


def histogram(scores: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """An RGB bar chart of ``scores`` (all) with the ``kept`` ones overlaid, range printed below."""
    canvas = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    finite = np.isfinite(scores)
    scores, kept = scores[finite], kept[finite]
    if not len(scores):
        return canvas
    low, high = float(scores.min()), float(scores.max())
    if high <= low:
        high = low + 1e-6
    edges = np.linspace(low, high, BINS + 1)
    every, _ = np.histogram(scores, edges)
    chosen, _ = np.histogram(scores[kept], edges)
    top = max(int(every.max()), 1)
    plot_w, plot_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    bar = plot_w / BINS
    for i, (n_all, n_kept) in enumerate(zip(every, chosen, strict=True)):
        x0, x1 = MARGIN + round(i * bar), MARGIN + round((i + 1) * bar) - 1
        for count, colour in ((n_all, ALL_COLOUR), (n_kept, KEPT_COLOUR)):
            if count:
                y0 = HEIGHT - MARGIN - round(plot_h * count / top)
                cv2.rectangle(canvas, (x0, y0), (x1, HEIGHT - MARGIN), colour, -1)
    cv2.line(canvas, (MARGIN, HEIGHT - MARGIN), (WIDTH - MARGIN, HEIGHT - MARGIN), (0, 0, 0), 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(canvas, f"{low:.3f}", (MARGIN, HEIGHT - 8), font, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, f"{high:.3f}", (WIDTH - MARGIN - 40, HEIGHT - 8), font, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, f"max bin {top}", (MARGIN, 16), font, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)
