"""Benchmark plots drawn with OpenCV (no plotting library): curves, matrices as heat maps, a localisation grid.

Pure: each function returns an RGB uint8 image; the caller writes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

WHITE, BLACK, GREY = (255, 255, 255), (0, 0, 0), (200, 200, 200)
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _text(canvas: np.ndarray, text: str, at: tuple[int, int], scale: float = 0.4, colour=BLACK) -> None:
    cv2.putText(canvas, text, at, FONT, scale, colour, 1, cv2.LINE_AA)


def line_chart(title: str, series: Sequence[tuple[str, Sequence[float], Sequence[float]]], x_label: str,
               y_label: str, x_range: tuple[float, float] | None = None, y_range: tuple[float, float] = (0.0, 1.0),
               size: tuple[int, int] = (420, 360), diagonal: bool = False) -> np.ndarray:
    """Curves ``(name, xs, ys)`` on one pair of axes, with a legend; an RGB image of ``size`` (width, height)."""
    width, height = size
    canvas = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 48, 12, 26, 40
    xs_all = [x for _, xs, _ in series for x in xs]
    x0, x1 = x_range or ((min(xs_all), max(xs_all)) if xs_all else (0.0, 1.0))
    if x1 <= x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    y0, y1 = y_range

    def point(x: float, y: float) -> tuple[int, int]:
        px = left + (x - x0) / (x1 - x0) * (width - left - right)
        py = height - bottom - (min(max(y, y0), y1) - y0) / (y1 - y0) * (height - top - bottom)
        return round(px), round(py)

    cv2.rectangle(canvas, point(x0, y1), point(x1, y0), BLACK, 1)
    for tick in np.linspace(0, 1, 6):
        yv, xv = y0 + tick * (y1 - y0), x0 + tick * (x1 - x0)
        cv2.line(canvas, point(x0, yv), point(x1, yv), GREY, 1)
        _text(canvas, f"{yv:.2g}", (4, point(x0, yv)[1] + 4), 0.35)
        _text(canvas, f"{xv:.3g}", (point(xv, y0)[0] - 10, height - bottom + 14), 0.35)
    if diagonal:
        cv2.line(canvas, point(x0, y0), point(x1, y1), GREY, 1, cv2.LINE_AA)
    for index, (name, xs, ys) in enumerate(series):
        colour = COLOURS[index % len(COLOURS)][::-1][::-1]
        points = np.array([point(x, y) for x, y in zip(xs, ys, strict=True)], np.int32)
        if len(points) > 1:
            cv2.polylines(canvas, [points], False, colour, 2, cv2.LINE_AA)
        for p in points if len(points) <= 12 else []:
            cv2.circle(canvas, tuple(int(v) for v in p), 3, colour, -1, cv2.LINE_AA)
        _text(canvas, name[:40], (left + 8, top + 14 + 14 * index), 0.38, colour)
    _text(canvas, title[:60], (left, 16), 0.45)
    _text(canvas, x_label, (width // 2 - 30, height - 6), 0.4)
    _text(canvas, y_label, (4, top - 6), 0.35)
    return canvas


def heatmap(title: str, rows: Sequence[str], columns: Sequence[str], values: np.ndarray, row_label: str,
            column_label: str, cell: int = 56) -> np.ndarray:
    """A matrix of figures in [0, 1] as coloured cells with their values; NaN cells stay grey."""
    label_w = max(80, 7 * max((len(r) for r in rows), default=4))
    top = 60
    height, width = top + cell * len(rows) + 24, label_w + cell * len(columns) + 12
    canvas = np.full((height, max(width, 240), 3), 255, np.uint8)
    for i, name in enumerate(rows):
        _text(canvas, name[:18], (4, top + i * cell + cell // 2 + 4), 0.38)
        for j in range(len(columns)):
            value = float(values[i, j])
            x, y = label_w + j * cell, top + i * cell
            if np.isnan(value):
                colour = GREY
            else:
                bgr = cv2.applyColorMap(np.uint8([[round(255 * min(max(value, 0.0), 1.0))]]), cv2.COLORMAP_VIRIDIS)
                colour = tuple(int(c) for c in bgr[0, 0, ::-1])
            cv2.rectangle(canvas, (x, y), (x + cell - 2, y + cell - 2), colour, -1)
            if not np.isnan(value):
                _text(canvas, f"{value:.2f}", (x + 8, y + cell // 2 + 4), 0.42, WHITE if value < 0.6 else BLACK)
    for j, name in enumerate(columns):
        _text(canvas, name[:8], (label_w + j * cell + 2, top - 8), 0.35)
    _text(canvas, title[:70], (4, 16), 0.45)
    _text(canvas, f"rows: {row_label}; columns: {column_label}", (4, 34), 0.38)
    return canvas


def localisation_grid(rows: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]], side: int = 128) -> np.ndarray:
    """One row per example: ``(caption, RGB image, ground-truth mask, heat map 0..255)`` side by side."""
    tiles = []
    for caption, image, mask, heat in rows:
        image = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
        gt = cv2.cvtColor(cv2.resize(mask, (side, side), interpolation=cv2.INTER_NEAREST), cv2.COLOR_GRAY2RGB)
        coloured = cv2.applyColorMap(cv2.resize(heat.astype(np.uint8), (side, side)), cv2.COLORMAP_JET)[:, :, ::-1]
        overlay = cv2.addWeighted(image, 0.5, np.ascontiguousarray(coloured), 0.5, 0)
        row = np.concatenate([image, gt, overlay], axis=1)
        strip = np.full((18, row.shape[1], 3), 255, np.uint8)
        _text(strip, caption[:60], (4, 13), 0.38)
        tiles.append(np.concatenate([strip, row], axis=0))
    header = np.full((18, 3 * side, 3), 255, np.uint8)
    for j, name in enumerate(("image", "ground truth", "predicted")):
        _text(header, name, (j * side + 4, 13), 0.4)
    return np.concatenate([header, *tiles], axis=0)
