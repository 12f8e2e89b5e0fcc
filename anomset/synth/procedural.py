"""Procedural material textures: fractal noise, stripes, Gabor noise and cellular (Worley) noise.

Each generator takes the full texture ``shape``, an ``rng`` and an optional ``window`` =
(y0, y1, x0, x1) and returns only the window's pixels as uint8 H×W×3 RGB, so callers that blend
under a mask pay for the mask's box only. Scale parameters are relative to the shorter side of
``shape``, so a texture looks the same at any output size. Stripes, Gabor and cellular noise are
scalar fields coloured through a random two-colour ramp; fractal noise draws each channel itself.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from anomset.masks.perlin import Window, perlin_noise

# Band-limited families are computed on a coarse grid where one wavelength / cell spans about this
# many pixels, then resized up: the cost no longer grows with the output size.
_COARSE_PIXELS = 6.0
_GABOR_PIXELS = 4.0  # a sinusoid is still well sampled at 4 px a period


def _full(shape: tuple[int, int], window: Window | None) -> Window:
    return window if window is not None else (0, shape[0], 0, shape[1])


def colour_ramp(field: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A float field in [0, 1] mapped linearly between two random RGB colours (uint8 H×W×3)."""
    low, high = rng.uniform(0.0, 255.0, (2, 3))
    levels = np.linspace(0.0, 1.0, 256)[:, None]
    table = np.clip(np.rint(low + levels * (high - low)), 0, 255).astype(np.uint8).reshape(256, 1, 3)
    grey = cv2.convertScaleAbs(field, alpha=255.0)  # saturates outside [0, 1]
    return cv2.LUT(cv2.merge([grey, grey, grey]), table)


def _stretch(field: np.ndarray) -> np.ndarray:
    """``field`` affinely mapped onto [0, 1] (a flat field gives 0.5)."""
    low, high = float(field.min()), float(field.max())
    if high - low < 1e-9:
        return np.full_like(field, 0.5, dtype=np.float32)
    return ((field - low) / (high - low)).astype(np.float32)


def fractal_noise(shape: tuple[int, int], rng: np.random.Generator, window: Window | None = None) -> np.ndarray:
    """Two-octave gradient noise per channel, contrast stretched over the window into a random range."""
    cells = int(2 ** rng.integers(1, 5))
    channels = []
    for _ in range(3):
        noise = perlin_noise(shape, (cells, cells), rng, window)
        noise += 0.5 * perlin_noise(shape, (cells * 2, cells * 2), rng, window)
        channels.append(noise)
    tex = cv2.merge(channels)
    low, high = sorted(rng.uniform(0, 255, 2))
    span = max(1e-6, float(tex.max() - tex.min()))
    # One affine map: [min, max] of the noise → [low, high].
    return cv2.convertScaleAbs(tex, alpha=(high - low) / span, beta=low - float(tex.min()) * (high - low) / span)


def _coarse_grid(window: Window, scale: float, margin: int) -> tuple[int, int]:
    """(rows, cols) of a coarse grid covering ``window`` at ``scale`` px per coarse px, plus a margin."""
    y0, y1, x0, x1 = window
    return int(np.ceil((y1 - y0) / scale)) + 1 + 2 * margin, int(np.ceil((x1 - x0) / scale)) + 1 + 2 * margin


def _up(coarse: np.ndarray, margin: int, scale: float, window: Window) -> np.ndarray:
    """The coarse field's interior, resized up to the window's size (bilinear)."""
    y0, y1, x0, x1 = window
    inner = coarse[margin:coarse.shape[0] - margin, margin:coarse.shape[1] - margin]
    # Window pixel x reads the coarse field at x / scale (the interior is a coarse px longer).
    matrix = np.array([[1.0 / scale, 0.0, 0.0], [0.0, 1.0 / scale, 0.0]])
    return cv2.warpAffine(np.ascontiguousarray(inner), matrix, (x1 - x0, y1 - y0),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


def stripes(shape: tuple[int, int], rng: np.random.Generator, window: Window | None = None) -> np.ndarray:
    """Parallel bands at a random angle and period, from soft (sine) to hard (square), gently wavy."""
    win = _full(shape, window)
    y0, _, x0, _ = win
    side = min(shape)
    period = side * rng.uniform(0.02, 0.15)
    angle = rng.uniform(0.0, np.pi)
    hardness = rng.uniform(0.5, 6.0)
    wobble = rng.uniform(0.0, 1.5)  # radians of phase wander along the bands
    scale = max(1.0, period / (2 * _COARSE_PIXELS))  # a band edge still spans a few coarse px
    rows, cols = _coarse_grid(win, scale, 0)
    ys = (y0 + np.arange(rows, dtype=np.float32) * np.float32(scale))[:, None]
    xs = (x0 + np.arange(cols, dtype=np.float32) * np.float32(scale))[None, :]
    phase = (xs * np.float32(np.cos(angle)) + ys * np.float32(np.sin(angle))) * np.float32(2.0 * np.pi / period)
    # About three wobble cells across the whole texture, however small the window.
    cells = (max(1, round(3 * rows * scale / shape[0])), max(1, round(3 * cols * scale / shape[1])))
    phase += np.float32(rng.uniform(0.0, 2.0 * np.pi)) + np.float32(wobble) * perlin_noise((rows, cols), cells, rng)
    field = 0.5 + 0.5 * np.tanh(np.float32(hardness) * np.sin(phase)) / np.float32(np.tanh(hardness))
    return colour_ramp(_up(field.astype(np.float32), 0, scale, win), rng)


def gabor_noise(shape: tuple[int, int], rng: np.random.Generator, window: Window | None = None) -> np.ndarray:
    """Oriented band-limited noise (white noise through a Gabor filter): brushed, woven or grained looks."""
    win = _full(shape, window)
    wavelength = min(shape) * rng.uniform(0.025, 0.08)
    scale = max(1.0, wavelength / _GABOR_PIXELS)
    coarse_wavelength = wavelength / scale
    theta = rng.uniform(0.0, np.pi)
    sigma = coarse_wavelength * rng.uniform(0.4, 1.0)  # envelope: short = speckled, long = fibrous
    aspect = rng.uniform(0.3, 1.0)
    # The envelope's long axis is sigma / aspect; five wavelengths of kernel bound filter2D's cost.
    ksize = min(int(2 * np.ceil(2.5 * sigma / aspect) + 1), int(5 * coarse_wavelength) | 1)
    kernel = cv2.getGaborKernel((ksize, ksize), sigma, theta, coarse_wavelength, aspect, 0.0, cv2.CV_32F)
    margin = ksize // 2
    noise = rng.standard_normal(_coarse_grid(win, scale, margin)).astype(np.float32)
    filtered = cv2.filter2D(noise, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT)
    field = _up(filtered, margin, scale, win)
    _, spread = cv2.meanStdDev(field)
    # ±2 std onto [0, 1]; colour_ramp saturates the rare tails.
    return colour_ramp(field * np.float32(0.25 / max(1e-6, float(spread[0, 0]))) + np.float32(0.5), rng)


def cellular_noise(shape: tuple[int, int], rng: np.random.Generator, window: Window | None = None) -> np.ndarray:
    """Worley noise: distance to the nearest random feature point, mixed with a flat shade per cell
    (spots and pits at one end, cobbles and scales at the other)."""
    win = _full(shape, window)
    cell = min(shape) * rng.uniform(0.03, 0.15)
    scale = max(1.0, cell / (1.5 * _COARSE_PIXELS))
    coarse_cell = cell / scale
    margin = int(np.ceil(coarse_cell))  # points just outside the window still own pixels inside it
    rows, cols = _coarse_grid(win, scale, margin)
    count = max(1, round(rows * cols / coarse_cell ** 2))
    seeds = np.full((rows, cols), 255, np.uint8)
    seeds[rng.integers(0, rows, count), rng.integers(0, cols, count)] = 0
    distance, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    shade = rng.uniform(0.0, 1.0, int(labels.max()) + 1).astype(np.float32)
    mix = np.float32(rng.uniform(0.0, 1.0))
    invert = rng.random() < 0.5
    f1 = np.minimum(distance / np.float32(coarse_cell), 1.0)
    f1 = 1.0 - f1 if invert else f1
    field = mix * shade[labels] + (1 - mix) * f1
    return colour_ramp(_stretch(_up(field.astype(np.float32), margin, scale, win)), rng)


FAMILIES: dict[str, Callable[[tuple[int, int], np.random.Generator, Window | None], np.ndarray]] = {
    "fractal": fractal_noise, "stripes": stripes, "gabor": gabor_noise, "cellular": cellular_noise}
