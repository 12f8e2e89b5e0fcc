"""Patch features from a pretrained backbone: chosen layers on one grid, optionally locally averaged.

Convolutional networks (ResNet, ConvNeXt...) give ``B×C×h×w`` hidden states; vision transformers
(ViT, DINOv2, CLIP's vision tower) give tokens, whose patch tokens are reshaped to their grid (class
and register tokens dropped). Layers are named ``stem`` (the embeddings) and ``stage1..N`` (after
each block, as ResNet's ``stage_names``), or given as indices into ``hidden_states``. Blocks after the
deepest requested layer are removed, so no compute is spent on them.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from anomset.errors import RecipeError
from anomset.features.loading import load_model, normalisation, parse_reference, provenance

if TYPE_CHECKING:
    import torch

# Where the sequence of blocks lives in the supported families (after the vision tower is taken out).
BLOCK_PATHS = ("encoder.stages", "encoder.layer", "encoder.layers", "layers", "vision_model.encoder.layers")
DTYPES = ("float32", "float16", "bfloat16")


def pick_device(device: str = "auto") -> str:
    """``auto`` → cuda when available, else cpu; anything else is passed to torch as it is."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _attr_path(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _vision_tower(model: Any) -> Any:
    """The image network inside a model: CLIP-like models keep it as ``vision_model``."""
    tower = getattr(model, "vision_model", None)
    return tower if tower is not None and hasattr(model, "text_model") else model


def to_pixel_values(images: Sequence[np.ndarray] | np.ndarray, size: tuple[int, int], mean: torch.Tensor,
                    std: torch.Tensor, dtype: str = "float32") -> torch.Tensor:
    """uint8 images → ``N×3×h×w`` on ``mean``'s device: antialiased bilinear resize, ``(x/255 - mean) / std``."""
    import torch
    import torch.nn.functional as F

    batch = []
    for image in images:
        array = np.asarray(image)
        if array.ndim == 2:
            array = np.repeat(array[:, :, None], 3, axis=2)
        x = torch.from_numpy(np.ascontiguousarray(array)).to(mean.device).permute(2, 0, 1)[None].float() / 255.0
        if tuple(x.shape[-2:]) != tuple(size):
            x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
        batch.append(x)
    return ((torch.cat(batch) - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)).to(getattr(torch, dtype))


class Backbone:
    """Frozen patch-feature extractor: ``features(images)`` → float32 ``N×C×h×w`` on ``device``.

    ``model`` is a Hub id or a folder written by ``save_pretrained``; ``layers`` name the hidden states
    to use (resized bilinearly to the grid of the finest one and concatenated on channels); ``pool``
    is the side of a stride-1 local average over each layer (PatchCore's 3, 1 for none); images are
    resized to ``image_size`` and normalised with the model's preprocessor statistics (ImageNet's
    when it has none).
    """

    def __init__(self, model: str, *, revision: str | None = None, layers: Sequence[str | int] = ("stage2", "stage3"),
                 image_size: int | tuple[int, int] = 224, pool: int = 3, device: str = "auto",
                 dtype: str = "float32", batch_size: int = 16, field: str = "backbone") -> None:
        import torch

        if dtype not in DTYPES:
            raise RecipeError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}", field=f"{field}.dtype")
        if pool < 1 or pool % 2 == 0:
            raise RecipeError(f"pool must be an odd size >= 1, got {pool}", field=f"{field}.pool")
        try:
            self.ref = parse_reference(model, revision)
        except ValueError as exc:
            raise RecipeError(str(exc), field=field) from None
        self.field = field
        self.device = pick_device(device)
        self.dtype = dtype
        self.batch_size = batch_size
        self.pool = pool
        self.image_size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        loaded = load_model(self.ref, dtype=dtype, field=field)
        self._identity = provenance(self.ref, loaded)
        self.net = _vision_tower(loaded)
        blocks_path = next((p for p in BLOCK_PATHS if _attr_path(self.net, p) is not None), None)
        if blocks_path is None:
            raise RecipeError(f"{model}: {type(loaded).__name__} is not a supported backbone (no encoder blocks)",
                              field=field, fix="use a ResNet, ConvNeXt, ViT, DINOv2 or CLIP vision model")
        blocks = _attr_path(self.net, blocks_path)
        self.layer_names = ["stem"] + [f"stage{i}" for i in range(1, len(blocks) + 1)]
        self.layers = [self._index(layer) for layer in layers]
        if not self.layers:
            raise RecipeError("no layers given", field=f"{field}.layers", fix="name at least one, e.g. stage2")
        # Later blocks never feed the chosen layers: drop them (as PatchCore stops its forward early).
        keep = max(1, max(self.layers))
        parent_path, _, name = blocks_path.rpartition(".")
        parent = _attr_path(self.net, parent_path) if parent_path else self.net
        setattr(parent, name, torch.nn.ModuleList(list(blocks)[:keep]))
        self.net.to(self.device)
        config = getattr(self.net.config, "vision_config", self.net.config)
        self.patch_size = getattr(config, "patch_size", None)
        self._forward_kwargs: dict[str, Any] = {"output_hidden_states": True}
        if "interpolate_pos_encoding" in inspect.signature(self.net.forward).parameters:
            self._forward_kwargs["interpolate_pos_encoding"] = True
        mean, std, self.norm_source = normalisation(self.ref)
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)

    def _index(self, layer: str | int) -> int:
        count = len(self.layer_names)
        if isinstance(layer, int) and -count <= layer < count:
            return layer % count
        if isinstance(layer, str) and layer in self.layer_names:
            return self.layer_names.index(layer)
        raise RecipeError(f"{self.ref.name} has no layer {layer!r}; it has {', '.join(self.layer_names)} "
                          f"(or indices 0..{count - 1})", field=f"{self.field}.layers")

    def provenance(self) -> dict[str, Any]:
        """What identifies these features: the network (id, revision, commit, hashes) and the extraction."""
        return {**self._identity, "layers": [self.layer_names[i] for i in self.layers],
                "image_size": list(self.image_size), "pool": self.pool, "dtype": self.dtype,
                "normalisation": self.norm_source, "mean": self.mean.flatten().tolist(),
                "std": self.std.flatten().tolist()}

    def preprocess(self, images: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
        """uint8 RGB (H×W×3, or H×W grayscale) images → the network's normalised ``N×3×S×S`` input."""
        return to_pixel_values(images, self.image_size, self.mean, self.std, self.dtype)

    def forward(self, pixel_values: torch.Tensor) -> Any:
        """The bare network call on a prepared batch (what the throughput benchmark compares against)."""
        return self.net(pixel_values=pixel_values, **self._forward_kwargs)

    def _as_grid(self, hidden: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if hidden.ndim == 4:
            return hidden
        if self.patch_size is None:
            raise RecipeError(f"{self.ref.name}: token features but no patch_size in its config", field=self.field)
        h, w = size[0] // self.patch_size, size[1] // self.patch_size
        tokens = hidden[:, hidden.shape[1] - h * w:]  # class and register tokens come first
        return tokens.transpose(1, 2).reshape(hidden.shape[0], hidden.shape[2], h, w)

    def batch_maps(self, images: Sequence[np.ndarray] | np.ndarray) -> list[torch.Tensor]:
        """The chosen layers' float32 maps for one batch (call under ``torch.no_grad``)."""
        hidden = self.forward(self.preprocess(images)).hidden_states
        return [self._as_grid(hidden[index], self.image_size).float() for index in self.layers]

    def batches(self, images: Sequence[np.ndarray] | np.ndarray) -> list[Sequence[np.ndarray] | np.ndarray]:
        return [images[start:start + self.batch_size] for start in range(0, len(images), self.batch_size)]

    def layer_maps(self, images: Sequence[np.ndarray] | np.ndarray) -> list[torch.Tensor]:
        """Each chosen layer's float32 ``N×C×h×w`` map, at its own resolution, not pooled."""
        import torch

        with torch.no_grad():
            per_batch = [self.batch_maps(batch) for batch in self.batches(images)]
        return [torch.cat(parts) for parts in zip(*per_batch, strict=True)]

    def combine(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """Layer maps → one ``N×C×h×w`` map: each locally averaged, resized to the finest grid, concatenated."""
        import torch
        import torch.nn.functional as F

        grid = max((tuple(m.shape[-2:]) for m in maps), key=lambda s: s[0] * s[1])
        out = []
        for m in maps:
            if self.pool > 1:
                m = F.avg_pool2d(m, self.pool, stride=1, padding=self.pool // 2, count_include_pad=False)
            if tuple(m.shape[-2:]) != grid:
                m = F.interpolate(m, size=grid, mode="bilinear", align_corners=False)
            out.append(m)
        return torch.cat(out, dim=1)

    def features(self, images: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
        """Patch features ``N×C×h×w`` of the chosen layers on the finest layer's grid (see ``combine``)."""
        import torch

        with torch.no_grad():
            return torch.cat([self.combine(self.batch_maps(batch)) for batch in self.batches(images)])
