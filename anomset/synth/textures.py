"""Anomaly texture sources for DRAEM-style methods: a user folder (e.g. DTD) or built-in textures."""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from anomset.errors import SourceError
from anomset.masks.perlin import perlin_noise

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# Real photographs scikit-image ships inside its wheel (no download): textured, varied colour.
_SKIMAGE_TEXTURES = ("brick", "grass", "gravel", "coffee", "chelsea", "hubble_deep_field",
                     "immunohistochemistry", "rocket", "astronaut", "moon", "cell", "coins")
PROCEDURAL = "procedural"


@functools.lru_cache(maxsize=8)
def _load_folder(folder: str) -> tuple[np.ndarray, ...]:
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
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


def procedural_texture(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Coloured multi-octave gradient noise, so anomalies are not limited to the shipped photos."""
    h, w = shape
    cells = int(2 ** rng.integers(1, 5))
    channels = []
    for _ in range(3):
        noise = perlin_noise(shape, (cells, cells), rng) + 0.5 * perlin_noise(shape, (cells * 2, cells * 2), rng)
        channels.append(noise)
    tex = np.stack(channels, axis=-1)
    tex = (tex - tex.min()) / max(1e-6, float(np.ptp(tex)))
    low, high = sorted(rng.uniform(0, 255, 2))
    return (low + tex * (high - low)).astype(np.uint8).reshape(h, w, 3)


class TextureBank:
    """Draws texture crops at a requested size from a folder or the built-in set."""

    def __init__(self, folder: str | None = None, procedural_share: float = 0.25) -> None:
        self.folder = folder
        self.procedural_share = procedural_share

    def images(self) -> tuple[np.ndarray, ...]:
        return _load_folder(self.folder) if self.folder else _load_builtin()

    def draw(self, shape: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, str]:
        """A texture of ``shape`` (uint8 RGB) and a name saying which one was used."""
        if self.folder is None and rng.random() < self.procedural_share:
            return procedural_texture(shape, rng), PROCEDURAL
        images = self.images()
        index = int(rng.integers(len(images)))
        image = images[index]
        ih, iw = image.shape[:2]
        crop = float(rng.uniform(0.3, 1.0))
        ch, cw = max(8, int(ih * crop)), max(8, int(iw * crop))
        y, x = int(rng.integers(ih - ch + 1)), int(rng.integers(iw - cw + 1))
        patch = cv2.resize(image[y:y + ch, x:x + cw], (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
        name = _SKIMAGE_TEXTURES[index] if self.folder is None else f"{self.folder}#{index}"
        return patch, name
