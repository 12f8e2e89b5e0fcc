"""diffusion_text (ExDD's zero-shot baseline): inpaint inside the mask from a plain domain prompt, no learning."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from anomset.context import SampleContext
from anomset.registry import SYNTHESIZERS
from anomset.synth.inpainting import InpaintingSynthesizer, InpaintParams


class DiffusionTextParams(InpaintParams):
    prompt: str | list[str] = Field(default="a scratch on a metal surface",
                                    description="the domain prompt; a list: one drawn per sample")
    negative_prompt: str = Field(default="", description="what the guidance steers away from")

    @field_validator("prompt")
    @classmethod
    def _some_prompt(cls, value: str | list[str]) -> str | list[str]:
        prompts = [value] if isinstance(value, str) else value
        if not prompts or any(not p.strip() for p in prompts):
            raise ValueError("give a non-empty prompt (or a list of non-empty prompts)")
        return value


@SYNTHESIZERS.register("diffusion_text")
class DiffusionText(InpaintingSynthesizer):
    """Text-prompted diffusion inpainting inside the mask (ExDD zero-shot baseline; needs a diffusers model)."""

    Params = DiffusionTextParams

    def conditioning(self, contexts: Sequence[SampleContext], rngs: Sequence[np.random.Generator]
                     ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        p = self.params
        options = [p.prompt] if isinstance(p.prompt, str) else list(p.prompt)
        prompts = [options[int(rng.integers(len(options)))] if len(options) > 1 else options[0] for rng in rngs]
        kwargs: dict[str, Any] = {"prompt": prompts}
        if p.negative_prompt:
            kwargs["negative_prompt"] = [p.negative_prompt] * len(prompts)
        return kwargs, [{"prompt": prompt, "negative_prompt": p.negative_prompt} for prompt in prompts]
