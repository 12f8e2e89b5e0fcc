"""The model-backed kind of synthesizer: a model loaded once per process, batched calls, a teardown.

The build (``build.render`` and ``build.batching``) treats a ``ModelBackedSynthesizer`` like any other
synthesizer, with three differences: ``setup(pool, device)`` gets the device the build chose (never a
rank), samples of one entry inside one shard reach ``apply_batch`` together (so the bytes depend on the
shard's content, not on how many processes run), and ``teardown`` is called once the build is done.
Construction stays cheap and loads nothing: the recipe is validated without touching a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from anomset.configurable import StrictModel
from anomset.context import ClassPool, SampleContext
from anomset.synth.base import Synthesizer, SynthResult, no_change


class BatchParams(StrictModel):
    """What every model-backed synthesizer takes: how many samples one model call handles."""

    batch_size: int = Field(default=4, ge=1, le=1024,
                            description="samples per model call, formed inside one shard (part of the data: "
                                        "batched kernels may round differently)")


class ModelBackedSynthesizer(Synthesizer):
    """A synthesizer whose work is done by a model: subclasses implement ``load`` and ``synthesize_batch``.

    ``setup`` loads the model on the given device the first time (and again only if the device
    changes), then calls ``prepare_class(pool)`` for the class. ``apply`` is ``apply_batch`` of one, so
    direct callers and the build share one code path. Every random draw still comes from each
    sample's own ``rng`` (e.g. a torch generator seeded from it).
    """

    Params = BatchParams
    model_backed: ClassVar[bool] = True
    preflight: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._model: Any = None
        self.device: str | None = None

    @property
    def batch_size(self) -> int:
        """How many samples the build hands to one ``apply_batch`` call."""
        return int(self.params.batch_size)  # type: ignore[attr-defined]

    @property
    def model(self) -> Any:
        """What ``load`` returned; only after ``setup``."""
        if self._model is None:
            raise RuntimeError(f"{type(self).__name__}: call setup(pool, device) before generating")
        return self._model

    def setup(self, pool: ClassPool, device: str = "cpu") -> None:
        """Load the model on ``device`` (once per process and device), then prepare for ``pool``'s class."""
        if self._model is None or self.device != device:
            if self._model is not None:
                self.release(self._model)
            self._model = self.load(device)
            self.device = device
        self.prepare_class(pool)

    def load(self, device: str) -> Any:
        """The model on ``device`` (a shared cache may hand out one already loaded)."""
        raise NotImplementedError

    def prepare_class(self, pool: ClassPool) -> None:
        """Per-class preparation once the model is loaded (learned tokens, a cluster's concept...)."""

    def release(self, model: Any) -> None:
        """Give back what ``load`` returned (the default keeps nothing else)."""

    def teardown(self) -> None:
        """Release the model; a later ``setup`` loads it again. Safe to call more than once."""
        if self._model is not None:
            self.release(self._model)
        self._model = None
        self.device = None

    def apply(self, image: np.ndarray, mask: np.ndarray | None, context: SampleContext,
              rng: np.random.Generator) -> SynthResult:
        return self.apply_batch([image], [mask], [context], [rng])[0]

    def apply_batch(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None],
                    contexts: Sequence[SampleContext], rngs: Sequence[np.random.Generator]) -> list[SynthResult]:
        """One result per sample, in order; empty masks give the image unchanged, the rest go to the model."""
        if not len(images) == len(masks) == len(contexts) == len(rngs):
            raise ValueError("apply_batch needs as many masks, contexts and rngs as images")
        results: list[SynthResult | None] = [None] * len(images)
        todo = []
        for i, mask in enumerate(masks):
            if self.uses_mask and mask is None:
                raise TypeError(f"{type(self).__name__} places its change in a mask; none was given")
            if self.uses_mask and not mask.any():  # type: ignore[union-attr]
                results[i] = no_change(images[i])
            else:
                todo.append(i)
        if todo:
            made = self.synthesize_batch([images[i] for i in todo], [masks[i] for i in todo],
                                         [contexts[i] for i in todo], [rngs[i] for i in todo])
            for i, result in zip(todo, made, strict=True):
                results[i] = result
        return results  # type: ignore[return-value]

    def synthesize(self, image: np.ndarray, mask: np.ndarray | None, context: SampleContext,
                   rng: np.random.Generator) -> SynthResult:
        return self.synthesize_batch([image], [mask], [context], [rng])[0]

    def synthesize_batch(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None],
                         contexts: Sequence[SampleContext], rngs: Sequence[np.random.Generator]
                         ) -> list[SynthResult]:
        """The method on a batch whose masks are non-empty (with ``uses_mask``)."""
        raise NotImplementedError
