"""``ars``: the anomaly-region score of GAA (eq. 7), from a SimpleNet-style scorer fitted per class.

Frozen backbone patch features of the class's normals go through a linear feature adaptor; a 2-layer
MLP discriminator learns to tell adapted normal features (score > +0.5) from the same features plus
Gaussian noise (score < -0.5), SimpleNet's truncated L1 loss. A candidate's anomaly map is the
negated discriminator score per patch, upsampled bilinearly to the image; its ARS is the map's mean
inside the candidate's mask. Fits are seeded (one torch generator) and bit-reproducible on CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from anomset.errors import OutputError, SourceError
from anomset.features.params import PatchBackboneParams
from anomset.quality.base import Candidate, QualityFilter
from anomset.registry import QUALITY_FILTERS

if TYPE_CHECKING:
    import torch

STATE_FILE = "ars.safetensors"
STATE_FORMAT = "1"
# SimpleNet's margin: normal features should score above +TH, noisy ones below -TH.
MARGIN = 0.5
# Params that change where or how fast a fit runs, not what it learns: left out of the state's key.
RUNTIME_PARAMS = ("device", "batch_size")


class ArsParams(PatchBackboneParams):
    # Of the shared backbone fields only the input side has another default here.
    image_size: int = Field(default=256, ge=16, le=2048, description="backbone input side")
    max_normals: int = Field(default=100, ge=1, le=100_000, description="normals fitted on, evenly spaced")
    steps: int = Field(default=400, ge=1, le=1_000_000, description="optimiser steps")
    patches_per_step: int = Field(default=2048, ge=8, le=1_000_000)
    lr: float = Field(default=2e-4, gt=0, le=1.0, description="Adam learning rate of adaptor and discriminator")
    hidden: int = Field(default=1024, ge=1, le=65_536, description="discriminator hidden width")
    noise_std: float = Field(default=0.015, gt=0, le=10.0, description="σ of the noise that makes fake features")
    seed: int = 0
    device: str = Field(default="auto", description="auto (cuda when present), cpu, cuda, cuda:1...")
    dtype: str = Field(default="float32", pattern="^(float32|float16|bfloat16)$", description="backbone dtype")
    batch_size: int = Field(default=16, ge=1, le=4096, description="images per backbone call")

def _linear(torch_mod: Any, inputs: int, outputs: int, generator: torch.Generator, device: str) -> Any:
    """A linear layer initialised from ``generator`` (Xavier-normal weights as SimpleNet, zero bias)."""
    layer = torch_mod.nn.Linear(inputs, outputs, device=device)
    with torch_mod.no_grad():
        torch_mod.nn.init.xavier_normal_(layer.weight, generator=generator)
        layer.bias.zero_()
    return layer


@QUALITY_FILTERS.register("ars")
class Ars(QualityFilter):
    """GAA's anomaly-region score: a SimpleNet discriminator's anomaly map averaged inside the mask."""

    Params = ArsParams
    MODEL_PARAMS = ("backbone",)
    score_field = "ars_score"
    learned = True
    # Trained towards -0.5 on normals and +0.5 on perturbed features: thresholds beyond 20 margins
    # would keep everything or nothing, so a recipe's min_score must lie in this range.
    score_range = (-10.0, 10.0)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._backbone: Any = None
        self.adaptor: Any = None
        self.discriminator: Any = None
        self.losses: list[float] = []
        self._folded: tuple[Any, Any] | None = None  # adaptor folded into the first layer (inference)
        self._spread: dict[tuple[int, int], Any] = {}

    # ---- the backbone and the networks -------------------------------------------------------
    @property
    def backbone(self) -> Any:
        """The frozen feature extractor, loaded on first use (construction stays cheap)."""
        if self._backbone is None:
            from anomset.features.backbone import Backbone

            p = self.params
            self._backbone = Backbone(p.backbone, revision=p.revision, layers=p.layers, image_size=p.image_size,
                                      pool=p.pool, device=p.device, dtype=p.dtype, batch_size=p.batch_size,
                                      field="ars.backbone")
        return self._backbone

    @property
    def fitted(self) -> bool:
        return self.discriminator is not None

    def _build(self, channels: int, generator: torch.Generator) -> None:
        import torch

        device = self.backbone.device
        self._folded = None
        self.adaptor = _linear(torch, channels, channels, generator, device)
        self.discriminator = torch.nn.Sequential(
            _linear(torch, channels, self.params.hidden, generator, device),
            torch.nn.BatchNorm1d(self.params.hidden, device=device),
            torch.nn.LeakyReLU(0.2),
            _linear(torch, self.params.hidden, 1, generator, device),
        )

    # ---- fit -----------------------------------------------------------------------------------
    def fit(self, pool: Any) -> Ars:
        """Train adaptor and discriminator on the pool's normals (``pool.normal_images``); returns self."""
        normals = pool.normal_images(self.params.max_normals)
        if not normals:
            raise SourceError("the ARS filter needs normal images of the class to fit on, and the pool has none",
                              fix="give the class train normals, or drop the ars filter")
        return self.fit_images(normals)

    def fit_images(self, normals: Sequence[np.ndarray]) -> Ars:
        """``fit`` on a list of uint8 RGB normal images."""
        import torch

        p = self.params
        backbone = self.backbone
        features = backbone.features(list(normals))  # N×C×h×w, float32, no grad
        bank = features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])
        generator = torch.Generator(device=backbone.device).manual_seed(p.seed)
        self._build(bank.shape[1], generator)
        optimiser = torch.optim.Adam([*self.adaptor.parameters(), *self.discriminator.parameters()], lr=p.lr)
        self.adaptor.train()
        self.discriminator.train()
        self.losses = []
        take = min(p.patches_per_step, bank.shape[0])
        for _ in range(p.steps):
            picked = torch.randint(bank.shape[0], (take,), generator=generator, device=backbone.device)
            true = self.adaptor(bank[picked])
            noise = torch.randn(true.shape, generator=generator, device=backbone.device) * p.noise_std
            scores = self.discriminator(torch.cat([true, true + noise])).squeeze(1)
            loss = (torch.clamp(MARGIN - scores[:take], min=0).mean()
                    + torch.clamp(scores[take:] + MARGIN, min=0).mean())
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            self.losses.append(float(loss.detach()))
        self.adaptor.eval()
        self.discriminator.eval()
        return self

    # ---- score ---------------------------------------------------------------------------------
    def _head(self, patches: torch.Tensor) -> torch.Tensor:
        """Anomaly score (negated discriminator output) of backbone patch features, K×C → K.

        The adaptor is linear, so at inference it is folded into the discriminator's first layer
        (one matrix product instead of two; the same function up to float rounding).
        """
        if self._folded is None:
            first = self.discriminator[0]
            weight = first.weight @ self.adaptor.weight
            self._folded = (weight, first.weight @ self.adaptor.bias + first.bias)
        weight, bias = self._folded
        hidden = self.discriminator[1:](patches @ weight.T + bias)
        return -hidden.squeeze(1)

    def _features(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        if not self.fitted:
            raise RuntimeError("ars: fit(pool) or load_state(...) before scoring")
        return self.backbone.combine(self.backbone.batch_maps(images))

    def anomaly_maps(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per image, the float32 anomaly map (negated discriminator score) at that image's size."""
        import torch
        import torch.nn.functional as F

        maps = []
        with torch.no_grad():
            for chunk in self.backbone.batches(list(images)):
                feats = self._features(chunk)
                n, c, h, w = feats.shape
                grid = self._head(feats.permute(0, 2, 3, 1).reshape(-1, c)).reshape(n, 1, h, w)
                maps += [F.interpolate(g[None], size=np.asarray(image).shape[:2], mode="bilinear",
                                       align_corners=False)[0, 0].cpu().numpy()
                         for g, image in zip(grid, chunk, strict=True)]
        return maps

    def _interpolation(self, out: int, inp: int, device: str) -> torch.Tensor:
        """``inp×out``: row i is how grid cell i spreads over ``out`` pixels under 1-D linear upsampling."""
        import torch
        import torch.nn.functional as F

        key = (out, inp)
        if key not in self._spread:
            eye = torch.eye(inp, device=device)[:, None, :]
            self._spread[key] = F.interpolate(eye, size=out, mode="linear", align_corners=False)[:, 0, :]
        return self._spread[key]

    def mask_weights(self, mask: np.ndarray, grid: tuple[int, int], device: str) -> torch.Tensor:
        """``h×w`` weights with ``Σ weights·grid_map`` = the bilinearly upsampled map's mean inside ``mask``.

        Bilinear upsampling is separable and linear, so averaging the upsampled map over the mask
        equals weighting the grid by the upsampling's transpose applied to the mask: only the
        cells under the mask (and their neighbours) need a score.
        """
        import torch

        inside = torch.from_numpy(np.ascontiguousarray(mask > 0)).to(device=device, dtype=torch.float32)
        rows = self._interpolation(inside.shape[0], grid[0], device)  # h×H
        cols = self._interpolation(inside.shape[1], grid[1], device)  # w×W
        return rows @ inside @ cols.T / inside.sum()

    def score_batch(self, candidates: Sequence[Candidate]) -> list[float]:
        """ARS of each candidate: the upsampled anomaly map's mean inside its mask (GAA eq. 7).

        Computed exactly from the cells the mask covers (``mask_weights``), so the discriminator
        runs on those patches only. An empty mask scores as the image's least anomalous pixel.
        """
        import torch

        out: list[float] = []
        with torch.no_grad():
            for chunk in self.backbone.batches(list(candidates)):
                feats = self._features([c.image for c in chunk])
                grid = tuple(feats.shape[-2:])
                weights, patches, owners = [], [], []
                for n, candidate in enumerate(chunk):
                    if not (candidate.mask > 0).any():
                        continue
                    w = self.mask_weights(candidate.mask, grid, feats.device).flatten()
                    cells = torch.nonzero(w > 0).squeeze(1)
                    weights.append(w[cells])
                    patches.append(feats[n].flatten(1)[:, cells].T)
                    owners.append(torch.full((len(cells),), n, device=feats.device))
                scores = torch.zeros(len(chunk), device=feats.device)
                if patches:
                    weighted = self._head(torch.cat(patches)) * torch.cat(weights)
                    scores.index_add_(0, torch.cat(owners), weighted)
                for n, candidate in enumerate(chunk):
                    if not (candidate.mask > 0).any():
                        scores[n] = float(self.anomaly_maps([candidate.image])[0].min())
                out += [float(v) for v in scores.cpu()]
        return out

    def score(self, candidate: Candidate) -> float:
        return self.score_batch([candidate])[0]

    # ---- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        """The fitted networks' tensors (adaptor.*, discriminator.*), on the CPU."""
        if not self.fitted:
            raise RuntimeError("ars: nothing fitted to save")
        tensors = {f"adaptor.{k}": v for k, v in self.adaptor.state_dict().items()}
        tensors |= {f"discriminator.{k}": v for k, v in self.discriminator.state_dict().items()}
        return {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> Ars:
        """Rebuild the networks from ``state_dict()``'s tensors; returns self."""
        import torch

        channels = int(tensors["adaptor.weight"].shape[1])
        self._build(channels, torch.Generator(device=self.backbone.device))
        device = self.backbone.device
        self.adaptor.load_state_dict({k[8:]: v.to(device) for k, v in tensors.items() if k.startswith("adaptor.")})
        self.discriminator.load_state_dict({k[14:]: v.to(device) for k, v in tensors.items()
                                            if k.startswith("discriminator.")})
        self.adaptor.eval()
        self.discriminator.eval()
        return self

    def identity_params(self) -> dict[str, Any]:
        """Resolved params without the runtime ones, a local backbone folder by its content fingerprint."""
        from anomset.features.fingerprint import model_fingerprint
        from anomset.recipe.identity import is_model_folder

        params = {k: v for k, v in self.resolved_params().items() if k not in RUNTIME_PARAMS}
        if is_model_folder(params["backbone"]):
            params["backbone"] = model_fingerprint(params["backbone"])
        return params

    def state_metadata(self, key: str) -> dict[str, str]:
        """What a saved fit is valid for: the backbone (id, revision, commit, config hash), params, caller's key."""
        identity = self.backbone.provenance()
        learned = self.identity_params()
        local = bool(identity.get("weights_sha256"))
        return {
            "format": STATE_FORMAT,
            "key": key,
            "backbone": "local" if local else identity["model"],
            "revision": identity["revision"],
            "commit": identity["commit"],
            "config_sha256": identity["config_sha256"],
            "weights_sha256": identity.get("weights_sha256", ""),
            "params_sha256": hashlib.sha256(json.dumps(learned, sort_keys=True).encode()).hexdigest(),
        }

    def save_state(self, folder: str | Path, key: str) -> Path:
        """Write the fit to ``folder/ars.safetensors`` (atomically) with ``state_metadata(key)``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / STATE_FILE
        partial = path.with_suffix(".partial")
        save_file(self.state_dict(), str(partial), metadata=self.state_metadata(key))
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, path)
        return path

    def load_state(self, folder: str | Path, key: str) -> bool:
        """Load a fit saved by ``save_state`` if it matches this backbone, these params and ``key``.

        Returns False (and loads nothing) when there is none or it was made for something else, so
        the caller fits and saves again; a file that is not a readable state is an ``OutputError``.
        """
        from safetensors import SafetensorError, safe_open

        path = Path(folder) / STATE_FILE
        if not path.is_file():
            return False
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                if metadata != self.state_metadata(key):
                    return False
                tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
        except (SafetensorError, OSError, ValueError) as exc:
            raise OutputError(f"{path}: not a readable ARS state ({exc})",
                              fix="delete it; the next build fits the filter again") from None
        self.load_state_dict(tensors)
        return True
