"""The toy source's own "real" defects, with exact masks.

Deliberately independent of ``anomset.synth`` and ``anomset.masks``: scores of detectors trained on
synthetic data and tested on these defects must not be circular.
"""

from __future__ import annotations

import cv2
import numpy as np

from anomset.sources.toy.normals import ToyRender

DEFECTS_BY_CLASS: dict[str, tuple[str, ...]] = {
    "brick": ("crack", "hole", "stain"),
    "gravel": ("crack", "scratch", "stain"),
    "washer": ("hole", "scratch", "stain"),
    "board": ("missing", "moved", "scratch"),
}


def _anchor(render: ToyRender, rng: np.random.Generator, margin: int) -> tuple[int, int]:
    """A point on the object, away from the border."""
    fg = render.foreground.copy()
    h, w = fg.shape
    fg[:margin], fg[h - margin:], fg[:, :margin], fg[:, w - margin:] = 0, 0, 0, 0
    ys, xs = np.nonzero(fg)
    i = int(rng.integers(len(ys)))
    return int(xs[i]), int(ys[i])


def _finish(render: ToyRender, changed: np.ndarray, new_image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep only pixels inside ``changed`` and where the value differs: the mask is exactly the change."""
    diff = np.any(new_image != render.image, axis=2) & (changed > 0)
    out = render.image.copy()
    out[diff] = new_image[diff]
    return out, np.where(diff, 255, 0).astype(np.uint8)


def scratch(render: ToyRender, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A thin curved bright or dark line (quadratic Bézier)."""
    size = render.image.shape[0]
    x0, y0 = _anchor(render, rng, size // 8)
    length = size * rng.uniform(0.15, 0.3)
    angle = rng.uniform(0, np.pi)
    x1, y1 = x0 + length * np.cos(angle), y0 + length * np.sin(angle)
    bend = rng.normal(0, length * 0.25, 2)
    t = np.linspace(0, 1, 40)[:, None]
    p0, p2 = np.array([x0, y0]), np.array([x1, y1])
    p1 = (p0 + p2) / 2 + bend
    curve = ((1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2).round().astype(np.int32)
    line = np.zeros(render.image.shape[:2], np.uint8)
    cv2.polylines(line, [curve], False, 255, max(1, int(size / 160 * rng.uniform(1, 2))))
    line &= render.foreground
    new = render.image.astype(np.int16)
    delta = 70 if rng.random() < 0.5 else -70
    new = np.clip(new + delta, 0, 255).astype(np.uint8)
    return _finish(render, line, new)


def crack(render: ToyRender, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A dark branching random walk."""
    size = render.image.shape[0]
    canvas = np.zeros(render.image.shape[:2], np.uint8)
    starts = [_anchor(render, rng, size // 6)]
    steps = int(size * rng.uniform(0.12, 0.2))
    for branch in range(int(rng.integers(2, 4))):
        x, y = starts[int(rng.integers(len(starts)))]
        heading = rng.uniform(0, 2 * np.pi)
        points = [(x, y)]
        for _ in range(steps // (branch + 1)):
            heading += rng.normal(0, 0.35)
            x, y = x + 2 * np.cos(heading), y + 2 * np.sin(heading)
            points.append((x, y))
        poly = np.array(points).round().astype(np.int32)
        cv2.polylines(canvas, [poly], False, 255, max(1, size // 200))
        starts.extend(points[len(points) // 3::7])
    new = (render.image.astype(np.float32) * 0.25).astype(np.uint8)
    return _finish(render, canvas & render.foreground, new)


def stain(render: ToyRender, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A translucent coloured blot with a soft interior and a hard rim."""
    size = render.image.shape[0]
    cx, cy = _anchor(render, rng, size // 8)
    axes = (int(size * rng.uniform(0.04, 0.09)), int(size * rng.uniform(0.03, 0.07)))
    region = np.zeros(render.image.shape[:2], np.uint8)
    cv2.ellipse(region, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    region &= render.foreground
    color = np.array([rng.uniform(60, 140), rng.uniform(40, 90), rng.uniform(10, 50)], np.float32)
    alpha = cv2.GaussianBlur(region.astype(np.float32) / 255.0, (0, 0), size / 80) * 0.45 + 0.2
    new = render.image.astype(np.float32) * (1 - alpha[..., None]) + color * alpha[..., None]
    return _finish(render, region, np.clip(new, 0, 255).astype(np.uint8))


def hole(render: ToyRender, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A dark pit with a bright rim."""
    size = render.image.shape[0]
    cx, cy = _anchor(render, rng, size // 8)
    radius = int(size * rng.uniform(0.02, 0.045))
    new = render.image.copy()
    cv2.circle(new, (cx, cy), radius + max(1, radius // 4), (225, 222, 215), -1)
    cv2.circle(new, (cx, cy), radius, (12, 10, 10), -1)
    region = np.zeros(render.image.shape[:2], np.uint8)
    cv2.circle(region, (cx, cy), radius + max(1, radius // 4), 255, -1)
    return _finish(render, region & render.foreground, new)


def _component_index(render: ToyRender, rng: np.random.Generator) -> int:
    return int(rng.integers(len(render.regions)))


def missing(render: ToyRender, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One component removed: its place shows bare board."""
    region = render.regions[_component_index(render, rng)]
    new = render.image.copy()
    new[region > 0] = render.background_color
    noise = rng.normal(0, 1.5, new.shape).astype(np.float32)
    new = np.clip(new.astype(np.float32) + noise * (region[..., None] > 0), 0, 255).astype(np.uint8)
    return _finish(render, cv2.dilate(region, np.ones((3, 3), np.uint8)), new)


def moved(render: ToyRender, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One component shifted to a free spot of the board: both the old and the new place change."""
    index = _component_index(render, rng)
    region = render.regions[index]
    size = region.shape[0]
    occupied = np.zeros_like(region)
    for r in render.regions:
        occupied |= r
    ys, xs = np.nonzero(region)
    for _ in range(50):
        dx, dy = (int(v) for v in rng.integers(-size // 4, size // 4, 2))
        target = np.roll(np.roll(region, dy, axis=0), dx, axis=1)
        inside = np.count_nonzero(target & render.foreground) == len(ys)
        if inside and not np.any(target & (occupied & ~region)) and abs(dx) + abs(dy) > size // 12:
            break
    new = render.image.copy()
    new[region > 0] = render.background_color
    new[(ys + dy) % size, (xs + dx) % size] = render.image[ys, xs]
    return _finish(render, region | target, new)


RENDERERS = {"scratch": scratch, "crack": crack, "stain": stain, "hole": hole, "missing": missing,
             "moved": moved}


def render_defect(defect_type: str, render: ToyRender, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Apply a defect to a normal render; returns (image, mask) with mask == exactly what changed."""
    return RENDERERS[defect_type](render, rng)
