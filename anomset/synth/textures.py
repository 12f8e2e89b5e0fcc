"""Anomaly texture sources for DRAEM-style methods: a user folder (e.g. DTD) or the built-in bank.

The built-in bank holds material textures only: the three scikit-image ships in its wheel (brick,
grass, gravel; no download) and four procedural families (``procedural.FAMILIES``). Every draw
says which family it came from, so a sample's json tells a photo fill from a generated one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from anomset.errors import SourceError
from anomset.masks.perlin import Window
from anomset.synth.procedural import FAMILIES, colour_ramp

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# Material photographs inside scikit-image's wheel (512×512 grayscale). Its other sample images
# (faces, animals, a rocket, galaxies, coins...) are scenes, not materials, and stay out.
SKIMAGE_TEXTURES = ("brick", "grass", "gravel")
PHOTO = "photo"    # family of a built-in photograph
FOLDER = "folder"  # family of an image from texture_dir


@dataclass(frozen=True)
class Texture:
    """A drawn texture (uint8 RGB, window-sized), which image or generator made it, and its family."""

    image: np.ndarray
    name: str
    family: str


@functools.lru_cache(maxsize=8)
def _load_folder(folder: str) -> tuple[tuple[str, np.ndarray], ...]:
    root = Path(folder)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SourceError("no texture images found", file=folder,
                          fix=f"put {', '.join(IMAGE_SUFFIXES)} files there or drop texture_dir")
    images = []
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError("cannot decode texture image", file=str(path), fix="remove or replace it")
        # Named by the path inside the folder: a sample's json never carries where the folder lives.
        images.append((path.relative_to(root).as_posix(), cv2.cvtColor(image, cv2.COLOR_BGR2RGB)))
    return tuple(images)


@functools.lru_cache(maxsize=1)
def _load_builtin() -> tuple[tuple[str, np.ndarray], ...]:
    import skimage.data

    images = []
    for name in SKIMAGE_TEXTURES:
        image = np.asarray(getattr(skimage.data, name)())
        if image.ndim == 3:
            image = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
        images.append((name, np.ascontiguousarray(image, dtype=np.uint8)))
    return tuple(images)


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
    """Draws texture crops at a requested size from a folder or the built-in bank.

    Built-in draws are procedural with probability ``procedural_share`` (the family uniform among
    ``procedural.FAMILIES``), else a crop of a material photograph; the photographs are grayscale
    and are coloured through a random two-colour ramp half of the time. A folder is used as is.
    """

    def __init__(self, folder: str | None = None, procedural_share: float = 0.5) -> None:
        self.folder = folder
        self.procedural_share = procedural_share

    def images(self) -> tuple[tuple[str, np.ndarray], ...]:
        """(name, image) of every image the bank crops from."""
        return _load_folder(self.folder) if self.folder else _load_builtin()

    def draw(self, shape: tuple[int, int], rng: np.random.Generator, window: Window | None = None) -> Texture:
        """A texture of ``shape``; with ``window`` = (y0, y1, x0, x1), only that part of it (callers
        that blend under a mask need no more)."""
        window = window if window is not None else (0, shape[0], 0, shape[1])
        if self.folder is None and rng.random() < self.procedural_share:
            names = tuple(FAMILIES)
            family = names[int(rng.integers(len(names)))]
            return Texture(FAMILIES[family](shape, rng, window), family, family)
        images = self.images()
        name, image = images[int(rng.integers(len(images)))]
        ih, iw = image.shape[:2]
        crop = float(rng.uniform(0.3, 1.0))
        ch, cw = max(8, int(ih * crop)), max(8, int(iw * crop))
        y, x = int(rng.integers(ih - ch + 1)), int(rng.integers(iw - cw + 1))
        patch = resized_window(np.ascontiguousarray(image[y:y + ch, x:x + cw]), shape, window)
        if self.folder is not None:
            return Texture(patch, f"texture_dir:{name}", FOLDER)
        if rng.random() < 0.5:
            patch = colour_ramp(patch.astype(np.float32) / np.float32(255.0), rng)
        else:
            patch = cv2.merge([patch, patch, patch])
        return Texture(patch, name, PHOTO)
