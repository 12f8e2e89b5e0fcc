"""The synthesizer contract: one call signature for every method, model-free or learned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from anomset.configurable import Configurable
from anomset.context import ClassPool, SampleContext
from anomset.masks.base import MaskResult


@dataclass
class SynthResult:
    """The altered image, the mask of what changed, and the parameters drawn to make it."""

    image: np.ndarray
    mask: np.ndarray
    params: dict[str, Any]


def no_change(image: np.ndarray) -> SynthResult:
    """The input unchanged with an empty mask: what ``apply`` returns for an empty mask (the build
    never passes one, but a direct caller may)."""
    return SynthResult(image.copy(), np.zeros(image.shape[:2], np.uint8), {"skipped": "empty mask"})


class Synthesizer(Configurable):
    """Turns a normal image into an anomalous one.

    The build asks for a mask first (``propose_mask``, or the recipe's mask strategy when it names
    one), then calls ``apply``. Both draw every random number from ``rng``. Subclasses implement
    ``synthesize``, which returns the final mask: it must cover every changed pixel (methods such as
    Poisson blending may refine it). Methods that place their own change (rotation, logical) set
    ``uses_mask = False``: they get ``mask=None`` and the recipe may not give them a mask strategy.
    """

    uses_mask: ClassVar[bool] = True
    # False for methods that need object components (logical): a recipe may not use them on textures.
    for_textures: ClassVar[bool] = True
    # True for methods that paste the class's shown real defects: a build without any is refused at setup.
    needs_shown_defects: ClassVar[bool] = False
    # False for model-backed methods whose setup loads a model: the build's pre-flight probe skips them
    # (it runs on one process, and would load every class's model there).
    preflight: ClassVar[bool] = True
    # True for methods that hold a model (``model_backed.ModelBackedSynthesizer``): the build gives them a
    # device, calls ``apply_batch`` on batches formed inside a shard, and ``teardown`` at the end.
    model_backed: ClassVar[bool] = False

    def setup(self, pool: ClassPool, device: str = "cpu") -> None:
        """Prepare for one class, once, on the rank that builds it: texture banks, models on ``device``.

        The build calls it before the class's first synthetic sample; direct callers call it themselves
        when a method needs it. The default needs nothing.
        """

    def outside_tolerance(self) -> int:
        """Largest per-channel change (0-255) a pixel outside the returned mask may show; 0 means
        bit-identical. Methods that keep a soft global change (rotation) document theirs here."""
        return 0

    def propose_mask(self, shape: tuple[int, int], context: SampleContext,
                     rng: np.random.Generator) -> MaskResult:
        """The method's own mask shape, used when the recipe names no mask strategy."""
        raise NotImplementedError(f"{type(self).__name__} needs a mask strategy")

    def apply(self, image: np.ndarray, mask: np.ndarray | None, context: SampleContext,
              rng: np.random.Generator) -> SynthResult:
        """The anomalous image; an empty mask gives the image unchanged (the build then redraws)."""
        if self.uses_mask:
            if mask is None:
                raise TypeError(f"{type(self).__name__} places its change in a mask; none was given")
            if not mask.any():
                return no_change(image)
        return self.synthesize(image, mask, context, rng)

    def synthesize(self, image: np.ndarray, mask: np.ndarray | None, context: SampleContext,
                   rng: np.random.Generator) -> SynthResult:
        """The method itself; with ``uses_mask`` the mask is a non-empty uint8 {0,255} array."""
        raise NotImplementedError
