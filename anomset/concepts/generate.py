"""What ``gaa`` and ``anogen`` share: inpainting conditioned on learned concept tokens.

Each sample draws a group (a cluster for gaa, a defect type for anogen; weighted by how many shown
defects it has), its prompt states are the frozen text encoder's output with the group's learned
tokens (and, for gaa, the position encoder's tokens of the sample's own mask) spliced in, and the
base pipeline inpaints inside the mask; the paste-back keeps every pixel outside it bit-identical.
The base model is the recipe's ``concepts.model``; the checkpoint must carry the concept hash this
recipe and class give, so concepts learned for other defects or settings are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, field_validator

from anomset.concepts.spec import ConceptsSpec
from anomset.context import ClassPool, SampleContext
from anomset.dataset.files import file_sha256
from anomset.diffusion.inpaint import draw_seed, inpaint, working_size
from anomset.errors import OutputError, RecipeError
from anomset.masks.base import MaskResult
from anomset.masks.geometric import GeometricMask
from anomset.synth.base import SynthResult
from anomset.synth.inpainting import InpaintingSynthesizer, InpaintParams


class ConceptParams(InpaintParams):
    model: str | None = Field(default=None, description="leave unset: the recipe's concepts.model is used")
    groups: list[str] = Field(default_factory=list,
                              description="clusters (gaa) or defect types (anogen) to draw from; empty: all")

    @field_validator("model")
    @classmethod
    def _pipeline_reference(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("the base model is the recipe's concepts.model (the one the concepts were learned "
                             "on); remove params.model")
        return value


class ConceptInpainting(InpaintingSynthesizer):
    """Inpainting with learned concept tokens; subclasses name their ``method`` (gaa or anogen)."""

    Params = ConceptParams
    method: ClassVar[str] = ""
    uses_concepts: ClassVar[bool] = True
    needs_shown_defects: ClassVar[bool] = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.spec: ConceptsSpec | None = None
        self.class_name = ""
        self._source: dict[str, Any] = {}
        self._size: tuple[int, int] = (0, 0)
        self._concept: dict[str, Any] | None = None
        self._pinned = ""

    def bind_concepts(self, spec: ConceptsSpec | None, class_name: str, source: dict[str, Any],
                      size: tuple[int, int], *, file: str, field: str, cluster: str = "") -> None:
        """Called when the recipe loads: the concepts section, the class and what identifies its data;
        ``cluster`` is the entry's ``cluster:`` (then every sample uses that group)."""
        if spec is None:
            raise RecipeError(f"{self.method} learns concepts, but the recipe has no concepts: section", file=file,
                              field=field, fix="add concepts: {dir: FOLDER, model: PIPELINE} and run anomset "
                                               "cluster and anomset learn")
        self.spec, self.class_name, self._source, self._size = spec, class_name, source, tuple(size)
        self._pinned = cluster

    def load(self, device: str) -> Any:
        from anomset.diffusion.loading import acquire_pipeline, parse_pipeline_reference

        spec = self._bound()
        try:
            ref = parse_pipeline_reference(spec.model, spec.revision)
        except ValueError as exc:
            raise RecipeError(str(exc), field="concepts.model") from None
        p = self.params
        return acquire_pipeline(ref, device=device, dtype=p.dtype, cpu_offload=p.cpu_offload, field="concepts")

    def _bound(self) -> ConceptsSpec:
        if self.spec is None:
            raise RuntimeError(f"{type(self).__name__}: bind_concepts before setup (the recipe loader does)")
        return self.spec

    def prepare_class(self, pool: ClassPool) -> None:
        """Load the class's checkpoint (refusing a missing or stale one) and its tokens onto the model."""
        import torch

        from anomset.concepts import checkpoint
        from anomset.concepts.identity import cluster_hash, concept_hash
        from anomset.concepts.learn import ConceptModel
        from anomset.concepts.tokens import empty_prompt, prompt_ids, token_names

        spec = self._bound()
        shown = pool.shown_defects()
        digest = concept_hash(cluster_hash(self._source, self._size, self.class_name, [d.key for d in shown], spec),
                              spec, self.method)
        path = checkpoint.concept_path(Path(spec.dir) / self.class_name, self.method)
        if not path.is_file():
            raise OutputError(f"no {self.method} concepts learned for class {self.class_name!r}", file=str(path),
                              fix="run anomset cluster RECIPE, then anomset learn RECIPE")
        saved = checkpoint.load(path)
        if saved.meta.get("concept_hash") != digest:
            raise OutputError(f"these {self.method} concepts were learned for other defects or settings",
                              file=str(path), fix="rerun anomset cluster RECIPE and anomset learn RECIPE")
        pipe = self.pipeline.pipe
        meta = saved.meta
        generator = torch.Generator().manual_seed(0)  # overwritten by the checkpoint's tensors below
        tokens = int(meta["tokens"])
        model = ConceptModel(len(meta["groups"]), tokens, int(meta["dim"]), torch.zeros(int(meta["dim"])), 1.0,
                             int(meta["position_tokens"]), generator)
        with torch.no_grad():
            model.tokens.copy_(saved.tensors["tokens"])
            if model.position is not None:
                model.position.load_state_dict(saved.sub("position."))
        device = next(pipe.text_encoder.parameters()).device
        model.to(device).eval()
        ids, start = prompt_ids(pipe.tokenizer, str(meta["prompt"]), tokens + int(meta["position_tokens"]))
        names = list(meta["groups"])
        if self.method == "gaa":
            from anomset.concepts.store import load_clusters

            members = load_clusters(Path(spec.dir) / self.class_name).assignment.values()
            counts = [sum(1 for m in members if m == g) for g in names]
        else:
            counts = [sum(1 for d in shown if d.defect_type == g) for g in names]
        allowed = [self._pinned] if self._pinned else (self.params.groups or names)
        unknown = [g for g in allowed if g not in names]
        if unknown:
            where = "cluster" if self._pinned else "params.groups"
            raise RecipeError(f"{self.method} has no group {unknown[0]!r} for class {self.class_name!r}; it has "
                              f"{', '.join(names)}", field=where, fix="name learned clusters (gaa) or defect types")
        self._concept = {"model": model, "ids": ids, "start": start, "names": names,
                         "weights": np.array([c if g in allowed else 0 for g, c in zip(names, counts, strict=True)],
                                             np.float64),
                         "empty": empty_prompt(pipe.text_encoder, pipe.tokenizer, 1),
                         "mask_size": int(meta["mask_size"]), "checkpoint_sha256": file_sha256(path),
                         "concept_hash": digest, "prompt": str(meta["prompt"]),
                         "token_names": {g: token_names(self.class_name, [g], tokens) for g in names},
                         "position": int(meta["position_tokens"])}

    def propose_mask(self, shape: tuple[int, int], context: SampleContext, rng: np.random.Generator) -> MaskResult:
        """GAA's aligned mask: the geometric enhancement of a real defect mask (the recipe may name another)."""
        return GeometricMask()(shape, context, rng)

    def synthesize_batch(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None],
                         contexts: Sequence[SampleContext], rngs: Sequence[np.random.Generator]
                         ) -> list[SynthResult]:
        import torch

        from anomset.concepts.frozen import encode_masks
        from anomset.concepts.tokens import encode

        c = self._concept
        if c is None:
            raise RuntimeError(f"{type(self).__name__}: call setup(pool, device) before generating")
        loaded = self.pipeline
        probabilities = c["weights"] / c["weights"].sum()
        groups = [int(rng.choice(len(c["names"]), p=probabilities)) for rng in rngs]
        seeds = [draw_seed(rng) for rng in rngs]
        pipe = loaded.pipe
        device = next(pipe.text_encoder.parameters()).device
        with torch.no_grad():
            shape_masks = encode_masks([np.asarray(m) for m in masks], c["mask_size"]).to(device)
            vectors = c["model"].vectors(torch.tensor(groups, device=device), shape_masks)
            states = encode(pipe.text_encoder, c["ids"], c["start"], vectors)
        dtype = pipe.text_encoder.dtype
        kwargs = {"prompt_embeds": states.to(dtype), "negative_prompt_embeds": c["empty"].expand_as(states).to(dtype)}
        settings = self.settings
        made = inpaint(pipe, images, masks, seeds, settings, grayscale=[x.grayscale for x in contexts], **kwargs)
        size = working_size(images[0].shape[:2], settings.resolution, int(getattr(pipe, "vae_scale_factor", 8)))
        model = {k: loaded.provenance[k] for k in ("model", "revision", "commit", "weights_sha256")
                 if k in loaded.provenance}
        common = {**settings.record(), "size": list(size), "dtype": loaded.dtype, **model,
                  "checkpoint_sha256": c["checkpoint_sha256"], "concept_hash": c["concept_hash"]}
        out = []
        for image, mask, group, seed in zip(made, masks, groups, seeds, strict=True):
            name = c["names"][group]
            position = " ".join(f"<pos-{i}>" for i in range(c["position"]))
            prompt = " ".join([c["prompt"], *c["token_names"][name], *([position] if position else [])])
            out.append(SynthResult(image, mask, {"cluster": name, "prompt": prompt, "seed": seed,  # type: ignore[arg-type]
                                                 **common}))
        return out
