"""Anomaly texture sources for DRAEM-style methods: a user folder (e.g. DTD) or built-in textures."""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from anomset.errors import SourceError
from anomset.masks.perlin import Window, perlin_noise

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# Real photographs scikit-image ships inside its wheel (no download): textured, varied colour.
_SKIMAGE_TEXTURES = ("brick", "grass", "gravel", "coffee", "chelsea", "hubble_deep_field",
                     "immunohistochemistry", "rocket", "astronaut", "moon", "cell", "coins")
PROCEDURAL = "procedural"


@functools.lru_cache(maxsize=8)
def _folder_files(folder: str) -> tuple[str, ...]:
    """The folder's image files, relative to it, in the bank's order (samples record these names)."""
    root = Path(folder)
    return tuple(p.relative_to(root).as_posix() for p in sorted(root.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES)


@functools.lru_cache(maxsize=8)
def _load_folder(folder: str) -> tuple[np.ndarray, ...]:
    files = [Path(folder) / name for name in _folder_files(folder)]
    if not files:
        raise SourceError("no texture images found", file=folder,
                          fix=f"put {', '.join(IMAGE_SUFFIXES)} files there or drop texture_dir")
    images = []
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError("cannot decode texture image", file=str(path), fix="remove or replace it")
        images.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return tuple(images)


@functools.lru_cache(maxsize=1)
def _load_builtin() -> tuple[np.ndarray, ...]:
    import skimage.data

    images = []
    for name in _SKIMAGE_TEXTURES:
        image = np.asarray(getattr(skimage.data, name)())
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        images.append(np.ascontiguousarray(image[..., :3]).astype(np.uint8))
    return tuple(images)


def procedural_texture(shape: tuple[int, int], rng: np.random.Generator,
                       window: Window | None = None) -> np.ndarray:
    """Coloured multi-octave gradient noise, so anomalies are not limited to the shipped photos.

    With ``window`` = (y0, y1, x0, x1) only that part is computed (contrast stretched over it).
    """
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


def resized_window(image: np.ndarray, shape: tuple[int, int], window: Window) -> np.ndarray:
    """``cv2.resize(image, shape)[window]`` (bilinear), computing only the window's pixels."""
    y0, y1, x0, x1 = window
    if (y1 - y0) * (x1 - x0) * 3 > shape[0] * shape[1]:
        # cv2.resize is a few times faster per pixel than warpAffine: for big windows, resize all.
        return cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)[y0:y1, x0:x1]
    sy, sx = image.shape[0] / shape[0], image.shape[1] / shape[1]
    # cv2.resize samples output pixel x at source (x + 0.5)·s - 0.5; the same affine map, shifted.
    matrix = np.array([[sx, 0.0, (x0 + 0.5) * sx - 0.5], [0.0, sy, (y0 + 0.5) * sy - 0.5]])
    return cv2.warpAffine(image, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


class TextureBank:
    """Draws texture crops at a requested size from a folder or the built-in set."""

    def __init__(self, folder: str | None = None, procedural_share: float = 0.25) -> None:
        self.folder = folder
        self.procedural_share = procedural_share

    def images(self) -> tuple[np.ndarray, ...]:
        return _load_folder(self.folder) if self.folder else _load_builtin()

    def draw(self, shape: tuple[int, int], rng: np.random.Generator,
             window: Window | None = None) -> tuple[np.ndarray, str]:
        """A texture of ``shape`` (uint8 RGB) and a name saying which one was used.

        With ``window`` = (y0, y1, x0, x1), only that part of the texture (callers that blend under a
        mask need no more).
        """
        y0, y1, x0, x1 = window if window is not None else (0, shape[0], 0, shape[1])
        if self.folder is None and rng.random() < self.procedural_share:
            return procedural_texture(shape, rng, window), PROCEDURAL
        images = self.images()
        index = int(rng.integers(len(images)))
        image = images[index]
        ih, iw = image.shape[:2]
        crop = float(rng.uniform(0.3, 1.0))
        ch, cw = max(8, int(ih * crop)), max(8, int(iw * crop))
        y, x = int(rng.integers(ih - ch + 1)), int(rng.integers(iw - cw + 1))
        patch = resized_window(image[y:y + ch, x:x + cw], shape, (y0, y1, x0, x1))
        # A relative name: the folder is a location, like a source's root, and never goes into a sample.
        name = _SKIMAGE_TEXTURES[index] if self.folder is None else f"texture_dir:{_folder_files(self.folder)[index]}"
        return patch, name
