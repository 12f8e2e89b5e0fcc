"""Foreground estimation from normal images, and splitting a foreground into component regions.

The background is modelled by the image border: objects in inspection datasets sit in front of a
fairly uniform backdrop that reaches the image edge. A pixel is foreground when its colour differs
from the border's median colour by more than the border's own spread (hysteresis with an Otsu
threshold for the seeds), cleaned morphologically; the largest components are kept.
"""

from __future__ import annotations

import cv2
import numpy as np

from anomset.masks.base import binarize, open_close

# Coverage outside these bounds means the border model failed (object touching every edge, or
# nothing distinguishable): the whole image is then returned, so anomalies may go anywhere.
MIN_COVERAGE = 0.005
MAX_COVERAGE = 0.995
# Below this mean IoU between per-image estimates and their vote, the class's objects do not sit in
# one place (MVTec's screw and metal_nut are photographed at any angle): a class-level mask would put
# anomalies on the background, so each image keeps its own estimate.
ALIGNED_IOU = 0.6


def _lab(image: np.ndarray) -> np.ndarray:
    """Float L*a*b* of an RGB uint8 image, lightly blurred against sensor noise."""
    rgb = cv2.GaussianBlur(image, (3, 3), 0).astype(np.float32) / 255.0
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)


def _border(array: np.ndarray, width: int) -> np.ndarray:
    """The pixels of a frame ``width`` wide around the image, flattened over the spatial axes."""
    top, bottom = array[:width], array[-width:]
    left, right = array[width:-width, :width], array[width:-width, -width:]
    channels = array.shape[2:] if array.ndim == 3 else ()
    return np.concatenate([part.reshape(-1, *channels) for part in (top, bottom, left, right)])


def keep_large_components(mask: np.ndarray, relative: float = 0.1) -> np.ndarray:
    """Keep the largest component and any whose area is at least ``relative`` × the largest."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(mask, dtype=np.uint8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= relative * areas.max()) + 1
    return np.where(np.isin(labels, keep), 255, 0).astype(np.uint8)


def clean_mask(mask: np.ndarray, relative: float = 0.1) -> np.ndarray:
    """Open (drop specks), close (fill cracks), keep the large components; kernels scale with size."""
    small = max(3, (min(mask.shape[:2]) // 96) | 1)
    return keep_large_components(open_close(binarize(mask), small), relative)


def background_distance(image: np.ndarray, border: float = 0.04) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel L*a*b* distance to the border's median colour, and the border pixels' distances."""
    lab = _lab(image)
    width = max(1, round(border * min(image.shape[:2])))
    reference = np.median(_border(lab, width), axis=0)
    distance = np.linalg.norm(lab - reference, axis=2)
    return distance, _border(distance, width)


def estimate_foreground_single(image: np.ndarray, border: float = 0.04) -> np.ndarray:
    """Foreground (uint8 {0,255}) of one RGB image by its difference from the border colour.

    Seeds are pixels above Otsu's threshold on the distance; the foreground is every pixel that is
    farther from the background than 99.5 % of border pixels and connected to a seed.
    """
    distance, border_distance = background_distance(image, border)
    noise = float(np.quantile(border_distance, 0.995)) + 2.0
    scaled = np.clip(distance * (255.0 / max(1e-6, float(distance.max()))), 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    strong_level = max(noise, otsu * float(distance.max()) / 255.0)
    weak = (distance > noise).astype(np.uint8)
    _, labels = cv2.connectedComponents(weak, connectivity=8)
    seeded = np.unique(labels[(distance > strong_level) & (weak > 0)])
    mask = np.where(np.isin(labels, seeded[seeded > 0]), 255, 0).astype(np.uint8)
    return _guard(clean_mask(mask))


def estimate_foreground(images: list[np.ndarray], border: float = 0.04, vote: float = 0.5) -> np.ndarray:
    """A class-level foreground from normal images of one size: per-image estimates, majority vote.

    Returns uint8 {0,255}; the whole image when no estimate can be made (no images, or a border
    that does not look like background).
    """
    return estimate_class_foreground(images, border, vote)[0]


def estimate_class_foreground(images: list[np.ndarray], border: float = 0.04,
                              vote: float = 0.5) -> tuple[np.ndarray, bool]:
    """The class-level vote (as ``estimate_foreground``) and whether the objects are aligned: the
    per-image estimates agree with the vote (mean IoU >= ``ALIGNED_IOU``)."""
    if not images:
        raise ValueError("estimate_foreground needs at least one image")
    shape = images[0].shape[:2]
    if any(im.shape[:2] != shape for im in images):
        raise ValueError("estimate_foreground needs images of one size; resize them first")
    singles = [estimate_foreground_single(image, border) > 0 for image in images]
    votes = np.sum(singles, axis=0, dtype=np.float32)
    mask = _guard(clean_mask(np.where(votes >= vote * len(images), 255, 0).astype(np.uint8)))
    return mask, mean_iou(singles, mask > 0) >= ALIGNED_IOU


def mean_iou(masks: list[np.ndarray], reference: np.ndarray) -> float:
    """Mean intersection over union of boolean ``masks`` with a boolean ``reference``."""
    scores = []
    for mask in masks:
        union = np.count_nonzero(mask | reference)
        scores.append(np.count_nonzero(mask & reference) / union if union else 1.0)
    return float(np.mean(scores))


def _guard(mask: np.ndarray) -> np.ndarray:
    coverage = np.count_nonzero(mask) / mask.size
    if not MIN_COVERAGE <= coverage <= MAX_COVERAGE:
        return np.full(mask.shape, 255, np.uint8)
    return mask


def connected_regions(foreground: np.ndarray, min_area_ratio: float = 0.001) -> list[np.ndarray]:
    """The foreground's 8-connected components as uint8 {0,255} masks, largest first.

    Components smaller than ``min_area_ratio`` of the image are dropped (specks are not parts).
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats((foreground > 0).astype(np.uint8), connectivity=8)
    min_area = min_area_ratio * foreground.size
    order = sorted(range(1, count), key=lambda i: (-int(stats[i, cv2.CC_STAT_AREA]), i))
    return [np.where(labels == i, 255, 0).astype(np.uint8) for i in order
            if stats[i, cv2.CC_STAT_AREA] >= min_area]
