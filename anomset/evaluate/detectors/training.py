"""What the trained detectors (``unet``, ``draem_split``, ``resnet_cls``) share: square resizing, bf16
autocast on a GPU, the seeded random flip and the shuffled mini-batch epoch loop.

Torch is imported inside the functions: this module loads with the detector registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np


def resize_square(array: np.ndarray, size: int) -> np.ndarray:
    """``array`` at ``size``×``size`` (area interpolation), itself when it already is."""
    if array.shape[:2] == (size, size):
        return array
    return cv2.resize(array, (size, size), interpolation=cv2.INTER_AREA)


def autocast(mixed_precision: bool, device: str) -> Any:
    """bf16 autocast on a GPU when ``mixed_precision`` asks for it; never on the CPU."""
    import contextlib

    import torch

    if mixed_precision and device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def flip_dims(rng: np.random.Generator) -> list[int]:
    """The dims of an ``N×C×H×W`` batch to flip: width, then height, each with probability 1/2 (two draws)."""
    return [d for d, flip in ((3, rng.random() < 0.5), (2, rng.random() < 0.5)) if flip]


def train_epochs(optimizer: Any, rng: np.random.Generator, size: int, batch_size: int, epochs: int,
                 batch_loss: Callable[[np.ndarray], Any],
                 on_epoch: Callable[[int, float], None] | None = None) -> list[float]:
    """``epochs`` passes over ``size`` rows, each a fresh ``rng`` permutation cut into batches: ``batch_loss``
    gives a batch's loss (it may draw from ``rng`` too), one optimiser step follows. The mean loss per row
    of each epoch; ``on_epoch(epoch, loss)`` hears each one as it ends."""
    losses = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(size)
        total = 0.0
        for start in range(0, size, batch_size):
            batch = order[start:start + batch_size]
            loss = batch_loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        losses.append(total / size)
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    return losses
