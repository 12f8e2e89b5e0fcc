"""Mask overlays and tile grids, shared by ``anomset preview`` and the card's assets."""

from __future__ import annotations

import math

import cv2
import numpy as np

FILL = np.array([255, 40, 40], np.float32)  # RGB
OUTLINE = (255, 230, 0)  # yellow: stays visible on the red fill and on dark or red images
PNG_COMPRESSION = 3  # fixed, so a picture always encodes to the same bytes; 9 cost ~1 s a build


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The RGB image with a translucent red fill inside the mask and its contour drawn on top."""
    inside = mask > 0
    out = image.astype(np.float32)
    out[inside] = out[inside] * 0.6 + FILL * 0.4
    out = out.astype(np.uint8)
    contours, _ = cv2.findContours(inside.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, OUTLINE, 1, cv2.LINE_AA)
    return out


def overlay_tile(image: np.ndarray, mask: np.ndarray, width: int) -> np.ndarray:
    """``overlay`` at ``width`` pixels wide, keeping the aspect ratio (the mask scaled without blending)."""
    h, w = mask.shape
    height = max(1, round(width * h / w))
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if w > width else cv2.INTER_LINEAR)
    mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    return overlay(image, mask)


def square_rows(tiles: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Tiles cut into rows of a near-square grid."""
    cols = math.ceil(math.sqrt(len(tiles)))
    return [tiles[i:i + cols] for i in range(0, len(tiles), cols)]


def arrange(rows: list[list[np.ndarray]], gap: int, background: tuple[int, int, int]) -> np.ndarray:
    """Rows of RGB tiles in equal cells (the largest tile's size), ``gap`` pixels apart and around."""
    tiles = [t for row in rows for t in row]
    th, tw = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    cols = max(len(row) for row in rows)
    canvas = np.full((gap + len(rows) * (th + gap), gap + cols * (tw + gap), 3), background, np.uint8)
    for r, row in enumerate(rows):
        for c, t in enumerate(row):
            y, x = gap + r * (th + gap), gap + c * (tw + gap)
            canvas[y:y + t.shape[0], x:x + t.shape[1]] = t
    return canvas
