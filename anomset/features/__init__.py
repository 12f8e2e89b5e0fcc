"""Pretrained backbones as patch-feature extractors (transformers ``from_pretrained``, Hub id or folder).

``loading`` resolves and loads a model and records what identifies it; ``backbone`` turns images into
patch feature maps. Both import torch and transformers lazily, so ``import anomset`` stays cheap.
"""
