"""Tiny labelled image sets for the detector tests: gray noise normals and their copies with a defect.

Two defect types: a bright ``square`` and a dark ``bar``, each anomaly a copy of one normal (its json
names the source image of that normal as ``source_key``, as a build's does) with a cluster id per type.
"""

from __future__ import annotations

import numpy as np

from anomset.evaluate.detectors import TrainSet

TYPES = ("square", "bar")


def defect_set(seed: int, normals: int, anomalies: int, size: int = 32, types: tuple[str, ...] = TYPES) -> TrainSet:
    """``normals`` noise images, then ``anomalies`` defective copies of them (types in turn)."""
    rng = np.random.default_rng(seed)
    clean = rng.integers(70, 130, (normals, size, size, 1)).repeat(3, axis=3).astype(np.uint8)
    images, masks, types_out, metas = list(clean), [np.zeros((size, size), np.uint8)] * normals, [], []
    keys = [f"toy-{seed}-train-{i:09d}" for i in range(normals)]
    sources = [f"toy/train/good/{i:05d}" for i in range(normals)]
    for key, source in zip(keys, sources, strict=True):
        types_out.append("good")
        metas.append({"key": key, "defect_type": "good", "source_key": source, "cluster": ""})
    for i in range(anomalies):
        source = (i // len(types)) % normals  # every type on both parities of the normals
        kind = types[i % len(types)]
        image, mask = clean[source].copy(), np.zeros((size, size), np.uint8)
        if kind == "square":
            side = int(rng.integers(size // 6, size // 3))
            y, x = rng.integers(0, size - side, 2)
            mask[y:y + side, x:x + side] = 255
            image[y:y + side, x:x + side] = 235
        else:
            length, width = int(rng.integers(size // 3, size // 2)), max(2, size // 12)
            y, x = rng.integers(0, size - length, 2)
            mask[y:y + length, x:x + width] = 255
            image[y:y + length, x:x + width] = 10
        images.append(image)
        masks.append(mask)
        types_out.append(kind)
        key = f"toy-{seed}-train-{normals + i:09d}"
        keys.append(key)
        metas.append({"key": key, "defect_type": kind, "source_key": sources[source],
                      "cluster": f"c{types.index(kind)}"})
    labels = np.array([t != "good" for t in types_out], np.int64)
    return TrainSet(np.stack(images), np.stack(masks), labels, types_out, keys, metas)


def pixel_auroc(maps: np.ndarray, masks: np.ndarray) -> float:
    """Pixel AUROC over a set of maps (through the package's streaming accumulator)."""
    from anomset.evaluate.metrics import PixelMetricAccumulator

    accumulator = PixelMetricAccumulator()
    for score_map, mask in zip(maps, masks, strict=True):
        accumulator.update(score_map, mask)
    return accumulator.compute().auroc
