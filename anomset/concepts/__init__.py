"""Few-shot anomaly concepts (GAA, AnoGen): clustering of the shown real defects, concept learning on a
frozen inpainting model, and what the ``gaa`` / ``anogen`` synthesizers read back.

Modules import torch, transformers and diffusers lazily: the recipe schema imports ``spec``.
"""
