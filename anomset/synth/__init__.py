"""Synthesizers: one module per method, all behind ``Synthesizer.propose_mask`` / ``apply``."""

from anomset.synth import (
           anogen,
           cutpaste,
           cutpaste_scar,
           diffusion_text,
           draem,
           gaa,
           logical,
           near_distribution,
           nsa,
           real_paste,
           rotation,
           texture_blend,
)
from anomset.synth.base import Synthesizer, SynthResult

__all__ = ["SynthResult", "Synthesizer", "anogen", "cutpaste", "cutpaste_scar", "diffusion_text", "draem", "gaa",
           "logical", "near_distribution", "nsa", "real_paste", "rotation", "texture_blend"]
