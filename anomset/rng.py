"""Seed derivation: every random draw comes from a generator seeded by (data hash, sample key).

The data hash (``anomset.recipe.identity``) leaves metadata out, so a card edit draws the same
samples; the recipe's ``seed`` is part of it and draws another dataset.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(*parts: str | int) -> int:
    """A 63-bit seed from the sha256 of the parts joined with '/' (stable across processes)."""
    text = "/".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


def sample_rng(data_hash: str, key: str) -> tuple[int, np.random.Generator]:
    """The seed and generator for one sample."""
    seed = derive_seed(data_hash, key)
    return seed, np.random.default_rng(seed)
