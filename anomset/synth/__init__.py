"""Synthesizers: one module per method, all behind ``Synthesizer.propose_mask`` / ``apply``."""

from anomset.synth import cutpaste, draem, logical
from anomset.synth.base import Synthesizer, SynthResult

__all__ = ["SynthResult", "Synthesizer", "cutpaste", "draem", "logical"]
