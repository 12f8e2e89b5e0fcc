"""Procedural normal images for the toy source: two textures and two objects with natural variation.

Everything here is self-contained (numpy, cv2 and scikit-image's shipped photos) so the toy data
never shares code with the synthesizers it is used to evaluate.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class ToyRender:
    image: np.ndarray
    foreground: np.ndarray
    regions: list[np.ndarray] = field(default_factory=list)
    region_colors: list[tuple[int, int, int]] = field(default_factory=list)
    background_color: tuple[int, int, int] = (0, 0, 0)


@functools.lru_cache(maxsize=4)
def _photo(name: str) -> np.ndarray:
    import skimage.data

    return np.asarray(getattr(skimage.data, name)(), dtype=np.uint8)


@functools.lru_cache(maxsize=8)
def _unit_axes(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [0, 1) as a column (y) and a row (x), float32."""
    return ((np.arange(h, dtype=np.float32) / h)[:, None], (np.arange(w, dtype=np.float32) / w)[None, :])


def _lighting(shape: tuple[int, int], rng: np.random.Generator, strength: float) -> np.ndarray:
    """A smooth multiplicative illumination field around 1 (a linear ramp in a random direction)."""
    ys, xs = _unit_axes(*shape)
    angle = rng.uniform(0, 2 * np.pi)
    gain = np.float32(strength * rng.uniform(0.3, 1.0))
    return 1.0 + gain * ((np.float32(np.cos(angle)) * xs - 0.5) + np.float32(np.sin(angle)) * ys)


def _sensor_noise(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Add per-pixel noise (a sum of two uniform integers: triangular, std about ``sigma``)."""
    half = max(1, round(sigma * 1.2))
    noise = rng.integers(-half, half + 1, image.shape, dtype=np.int16)
    noise += rng.integers(-half, half + 1, image.shape, dtype=np.int16)
    return np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def render_texture(name: str, size: int, rng: np.random.Generator) -> ToyRender:
    """A random crop of a shipped texture photo, slightly rotated, tinted and lit."""
    photo = _photo(name)
    crop = int(photo.shape[0] * rng.uniform(0.45, 0.6))
    y, x = (int(rng.integers(0, photo.shape[i] - crop)) for i in range(2))
    patch = photo[y:y + crop, x:x + crop]
    center = (crop / 2.0, crop / 2.0)
    matrix = cv2.getRotationMatrix2D(center, float(rng.uniform(-4, 4)), 1.0)
    patch = cv2.warpAffine(patch, matrix, (crop, crop), borderMode=cv2.BORDER_REFLECT_101)
    gray = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    tints = {"brick": (0.78, 0.42, 0.32), "gravel": (0.62, 0.58, 0.52)}
    tint = np.array(tints.get(name, (0.6, 0.6, 0.6)), np.float32) * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    rgb = gray[..., None] * tint[None, None, :] * 1.5 * _lighting((size, size), rng, 0.25)[..., None]
    image = _sensor_noise(np.clip(rgb * 255.0, 0, 255), rng, 2.0)
    return ToyRender(image, np.full((size, size), 255, np.uint8))


def _plain_background(size: int, rng: np.random.Generator, base: tuple[int, int, int]) -> np.ndarray:
    color = np.array(base, np.float32) + rng.normal(0, 4, 3).astype(np.float32)
    return np.clip(_lighting((size, size), rng, 0.15)[..., None] * color, 0, 255)


def render_washer(size: int, rng: np.random.Generator) -> ToyRender:
    """A brushed metal ring on a dark matte background, with jittered pose and shade."""
    bg_color = (40, 42, 46)
    canvas = _plain_background(size, rng, bg_color)
    cx = size / 2 + rng.normal(0, size * 0.02)
    cy = size / 2 + rng.normal(0, size * 0.02)
    outer = size * rng.uniform(0.33, 0.36)
    inner = outer * rng.uniform(0.42, 0.47)
    ys, xs = _unit_axes(size, size)
    dx = np.ascontiguousarray(np.broadcast_to(xs * size - np.float32(cx), (size, size)))
    dy = np.ascontiguousarray(np.broadcast_to(ys * size - np.float32(cy), (size, size)))
    radius, theta = cv2.cartToPolar(dx, dy)
    ring = (radius <= outer) & (radius >= inner)
    theta = theta[ring]
    brushed = 0.85 + 0.08 * np.sin(theta * np.float32(rng.integers(30, 60)) + np.float32(rng.uniform(0, 6.28)))
    shade = 0.75 + 0.25 * np.cos(theta - np.float32(rng.uniform(0, 6.28))) * (radius[ring] - inner) / max(
        1.0, outer - inner)
    metal = np.array([170, 172, 178], np.float32) * np.float32(rng.uniform(0.9, 1.1))
    canvas[ring] = metal[None, :] * (brushed * shade)[:, None]
    foreground = np.where(ring, 255, 0).astype(np.uint8)
    image = _sensor_noise(cv2.GaussianBlur(np.clip(canvas, 0, 255), (3, 3), 0.6), rng, 1.5)
    return ToyRender(image, foreground, [foreground.copy()], [tuple(int(v) for v in metal)], bg_color)


def render_board(size: int, rng: np.random.Generator) -> ToyRender:
    """A green circuit board with three chips and two capacitors at jittered nominal positions."""
    bg_color = (205, 205, 200)
    canvas = _plain_background(size, rng, bg_color)
    margin = int(size * rng.uniform(0.1, 0.12))
    board_color = np.array([30, 110, 60], np.float32) + rng.normal(0, 5, 3).astype(np.float32)
    board = np.zeros((size, size), np.uint8)
    cv2.rectangle(board, (margin, margin), (size - margin, size - margin), 255, -1)
    cv2.rectangle(canvas, (margin, margin), (size - margin, size - margin), board_color.tolist(), -1)
    # Traces: thin lighter lines, part of the board's normal look.
    for i in range(4):
        y = int(margin + (i + 1) * (size - 2 * margin) / 5 + rng.normal(0, 2))
        cv2.line(canvas, (margin + 6, y), (size - margin - 6, y), (60, 150, 90), max(1, size // 128))
    regions: list[np.ndarray] = []
    colors: list[tuple[int, int, int]] = []
    s = size / 256.0
    chips = [(0.3, 0.3), (0.7, 0.3), (0.5, 0.68)]
    for fx, fy in chips:
        cx, cy = fx * size + rng.normal(0, 2 * s), fy * size + rng.normal(0, 2 * s)
        w, h = 34 * s * rng.uniform(0.95, 1.05), 22 * s * rng.uniform(0.95, 1.05)
        corners = (int(cx - w / 2), int(cy - h / 2)), (int(cx + w / 2), int(cy + h / 2))
        region = cv2.rectangle(np.zeros((size, size), np.uint8), *corners, 255, -1)
        color = (int(25 + rng.integers(0, 10)),) * 3
        cv2.rectangle(canvas, *corners, color, -1)
        regions.append(region)
        colors.append(color)
    for fx, fy in [(0.25, 0.72), (0.75, 0.72)]:
        cx, cy = fx * size + rng.normal(0, 2 * s), fy * size + rng.normal(0, 2 * s)
        center, radius = (int(cx), int(cy)), int(11 * s * rng.uniform(0.95, 1.05))
        region = cv2.circle(np.zeros((size, size), np.uint8), center, radius, 255, -1)
        color = (int(40 + rng.integers(0, 15)), int(70 + rng.integers(0, 15)), int(170 + rng.integers(0, 20)))
        cv2.circle(canvas, center, radius, color, -1)
        regions.append(region)
        colors.append(color)
    image = _sensor_noise(cv2.GaussianBlur(np.clip(canvas, 0, 255), (3, 3), 0.5), rng, 1.5)
    return ToyRender(image, board, regions, colors, tuple(int(v) for v in board_color))


TEXTURE_CLASSES = ("brick", "gravel")
OBJECT_CLASSES = ("board", "washer")


def render_normal(class_name: str, size: int, rng: np.random.Generator) -> ToyRender:
    """A normal sample of a toy class."""
    if class_name in TEXTURE_CLASSES:
        return render_texture(class_name, size, rng)
    if class_name == "washer":
        return render_washer(size, rng)
    if class_name == "board":
        return render_board(size, rng)
    raise KeyError(class_name)
