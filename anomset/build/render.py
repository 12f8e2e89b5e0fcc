"""Turning a planned sample into pixels: load and resize (the class pool), generate, then filter."""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from anomset.build.batching import Request, drive
from anomset.build.fit_cache import fit_once
from anomset.build.item_cache import ItemCache
from anomset.build.plan import REAL, SYNTHETIC, SampleSpec
from anomset.context import SampleContext, ShownDefect, evenly_spaced
from anomset.errors import AnomsetError, RecipeError, SynthesisError
from anomset.masks.base import MaskStrategy, binarize
from anomset.masks.foreground import connected_regions, estimate_class_foreground, estimate_foreground_single
from anomset.quality.base import Candidate, QualityFilter
from anomset.quality.visibility import Visibility
from anomset.recipe.load import LoadedRecipe
from anomset.recipe.schema import GenerateSpec
from anomset.rng import derive_seed, sample_rng
from anomset.sample import GOOD, Sample, SampleMeta, mask_stats
from anomset.sources.base import LoadedItem, Source, SourceItem
from anomset.synth.base import Synthesizer, SynthResult
from anomset.synth.color import is_grayscale

# Normals that the class-level foreground estimate looks at (evenly spaced over the train split).
FOREGROUND_SAMPLE = 16


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An RGB image at the output size (h, w): area when shrinking, linear when growing."""
    h, w = size
    if image.shape[:2] != (h, w):
        shrinking = image.shape[0] * image.shape[1] > h * w
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return np.ascontiguousarray(image)


def resize_item(item: LoadedItem, size: tuple[int, int], is_texture: bool,
                default_foreground: np.ndarray | None = None) -> LoadedItem:
    """An item at the output size (h, w): area/linear for images, nearest for masks.

    Textures are all foreground; an object item without a foreground of its own gets
    ``default_foreground`` (already at the output size), else the whole image.
    """
    h, w = size

    def mask_at(mask: np.ndarray | None) -> np.ndarray | None:
        if mask is None:
            return None
        if mask.shape[:2] != (h, w):
            mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
        return binarize(mask)

    foreground = mask_at(item.foreground)
    if foreground is None and not is_texture and default_foreground is not None:
        foreground = default_foreground.copy()
    if foreground is None or is_texture:
        foreground = np.full((h, w), 255, np.uint8)
    regions = [m for m in (mask_at(r) for r in item.regions) if m is not None]
    return LoadedItem(resize_image(item.image, size), mask_at(item.mask), foreground, regions)


class ClassPool:
    """One class's items at the output size; what synthesizers may borrow from (``context.ClassPool``)."""

    def __init__(self, source: Source, class_name: str, items: list[SourceItem], size: tuple[int, int],
                 cache: ItemCache | None = None) -> None:
        self.source = source
        self.class_name = class_name
        self.size = size
        self.is_texture = source.is_texture(class_name)
        self.by_key = {item.key: item for item in items}
        self.train_normals = [i for i in items if i.is_normal and i.split == "train"]
        # What synthesizers borrow from: the train normals, or any normals when a source has no train split.
        self.normals = self.train_normals or [i for i in items if i.is_normal]
        self.train_defects = [i for i in items if not i.is_normal and i.split == "train"]
        # One cache per rank, shared by its classes: each source image is decoded once per build.
        self.cache = cache if cache is not None else ItemCache()
        self._estimate: np.ndarray | None = None
        self._aligned = True  # the objects sit in one place, so the class estimate fits every image
        self.split_normals = {split: [i for i in items if i.is_normal and i.split == split]
                              for split in ("train", "test")}

    def load(self, key: str) -> LoadedItem:
        """The item at the output size (decoded on first use, then kept within the cache's budget)."""
        return self.cache.get((self.class_name, key), lambda: self._finish(self.source.load(self.by_key[key])))

    def _finish(self, raw: LoadedItem) -> LoadedItem:
        estimate = None
        if raw.foreground is None and not self.is_texture:
            estimate = self.estimated_foreground
            if not self._aligned:
                estimate = estimate_foreground_single(resize_image(raw.image, self.size))
        item = resize_item(raw, self.size, self.is_texture, estimate)
        if not item.regions and not self.is_texture:
            item.regions = connected_regions(item.foreground)
        return item

    def spread_normals(self) -> list[SourceItem]:
        """Up to ``FOREGROUND_SAMPLE`` normals evenly spaced over the class: what class-level judgements
        (the foreground estimate, grayscale) look at, so both see the same, already decoded, images."""
        step = max(1, len(self.normals) // FOREGROUND_SAMPLE)
        return self.normals[::step][:FOREGROUND_SAMPLE]

    @property
    def foreground_mode(self) -> str:
        """How items without a foreground of their own get one: ``class`` (one estimate for the class),
        ``per_image`` (objects at varying poses: each image's own estimate), or ``given``/``texture``."""
        if self.is_texture:
            return "texture"
        if self._estimate is None:
            return "given"
        return "class" if self._aligned else "per_image"

    @property
    def estimated_foreground(self) -> np.ndarray:
        """The class's foreground estimated once from its train normals (for sources that give none);
        when the objects are not aligned, each image then gets its own estimate (``foreground_mode``)."""
        if self._estimate is None:
            normals = self.normals
            if not normals:
                self._estimate = np.full(self.size, 255, np.uint8)
                return self._estimate
            raws = {i.key: self.source.load(i) for i in self.spread_normals()}
            self._estimate, self._aligned = estimate_class_foreground(
                [resize_image(raw.image, self.size) for raw in raws.values()])
            for key, raw in raws.items():  # decoded already: keep them rather than decode them again
                if (self.class_name, key) not in self.cache:
                    self.cache.put((self.class_name, key), self._finish(raw))
        return self._estimate

    @functools.cached_property
    def grayscale(self) -> bool:
        """Whether the class is grey (R = G = B), judged once from up to ``FOREGROUND_SAMPLE`` normals
        spread over the class; synthesizers then keep its anomalies grey too."""
        picked = self.spread_normals()
        return bool(picked) and all(is_grayscale(self.load(i.key).image) for i in picked)

    def other_normal(self, rng: np.random.Generator) -> np.ndarray:
        return self.load(self.normals[int(rng.integers(len(self.normals)))].key).image

    def normal_images(self, limit: int | None = None) -> list[np.ndarray]:
        return [self.load(i.key).image for i in evenly_spaced(self.normals, limit)]

    def defect_masks(self) -> list[np.ndarray]:
        return self._defect_masks

    @functools.cached_property
    def _defect_masks(self) -> list[np.ndarray]:
        # Gathered once: mask strategies ask for them on every sample.
        return [m for m in (self.load(i.key).mask for i in self.train_defects) if m is not None]

    def shown_defects(self) -> list[ShownDefect]:
        return self._shown_defects

    @functools.cached_property
    def _shown_defects(self) -> list[ShownDefect]:
        # The train-split defects: those the protocol showed to generators (never held-out test ones).
        shown = []
        for source_item in self.train_defects:
            loaded = self.load(source_item.key)
            if loaded.mask is not None and loaded.mask.any():
                shown.append(ShownDefect(source_item.key, source_item.defect_type, loaded.image, loaded.mask))
        return shown


class Renderer:
    """Renders ``SampleSpec``s of one build. Holds instantiated synthesizers and per-class pools."""

    def __init__(self, loaded: LoadedRecipe, source: Source, index: dict[str, list[SourceItem]],
                 cache: ItemCache | None = None, device: str | Callable[[], str] = "cpu") -> None:
        self.loaded = loaded
        # A device, or how to find it (the launcher's ``local_device``): asked only when a model-backed
        # synthesizer sets up, so model-free builds never import torch.
        self._device = device
        self._set_up: set[str] = set()  # classes whose synthesizers ran ``setup`` in this renderer
        self._fitted: set[str] = set()  # classes whose quality filters ran ``fit``
        # Where learned filters keep their fits (the build state's quality folder); None: fit in memory.
        self.fit_folder: Path | None = None
        self._scores: list[tuple[float, bool]] = []  # the redraw stage's scored tries (``take_scores``)
        self.size = tuple(loaded.recipe.output.image_size)
        self.cache = cache if cache is not None else ItemCache()
        self.pools = {name: ClassPool(source, name, index[name], self.size, self.cache)
                      for name in loaded.recipe.classes}
        self.entries: dict[tuple[str, int], tuple[GenerateSpec, Synthesizer, MaskStrategy | None]] = {}
        built = loaded.components
        self.filters: dict[tuple[str, int], list[tuple[QualityFilter, float]]] = {}
        for class_name, plan in loaded.recipe.classes.items():
            for i, entry in enumerate(plan.generate):
                synth = built.synthesizers[(class_name, i)]
                if not synth.for_textures and source.is_texture(class_name):
                    raise RecipeError(f"{entry.synthesizer} needs object components, but {class_name!r} is a texture",
                                      file=loaded.path, field=f"classes.{class_name}.generate[{i}].synthesizer",
                                      fix="use it on object classes only")
                if synth.needs_shown_defects and not self.pools[class_name].train_defects:
                    raise RecipeError(f"{entry.synthesizer} pastes real defects shown to generators, but class "
                                      f"{class_name!r} shows none", file=loaded.path,
                                      field=f"classes.{class_name}.shown_defects",
                                      fix="set shown_defects (e.g. 1/3: a third of each real defect type) on a "
                                          "source with real defects, or use another synthesizer")
                self.entries[(class_name, i)] = (entry, synth, built.masks.get((class_name, i)))
                # The filter stage: the visibility check, then the recipe's min_score filter (keep_top: select.py).
                self.filters[(class_name, i)] = [(Visibility(), entry.min_visibility)]
                rule = built.quality.get((class_name, i))
                if rule is not None and rule.min_score is not None:
                    self.filters[(class_name, i)].append((rule.filter, rule.min_score))

    def set_up_class(self, class_name: str) -> None:
        """Set up the class's synthesizers and fit its filters, once: only ranks that build it pay for it."""
        self._set_up_synthesizers(class_name)
        if class_name in self._fitted:
            return
        pool = self.pools[class_name]
        learned = {id(rule.filter): rule.filter for (name, _), rule in sorted(self.loaded.components.quality.items())
                   if name == class_name}
        for (name, _), filters in sorted(self.filters.items()):
            if name == class_name:
                for quality_filter, _ in filters:
                    learned.setdefault(id(quality_filter), quality_filter)
        for quality_filter in learned.values():  # entries inheriting the class's filter share one fit
            fit_once(quality_filter, pool, self.fit_folder, f"{self.loaded.data_hash}/{class_name}")
        self._fitted.add(class_name)

    @property
    def device(self) -> str:
        """The device model-backed synthesizers load on (resolved on first use)."""
        if not isinstance(self._device, str):
            self._device = self._device()
        return self._device

    def _set_up_synthesizers(self, class_name: str) -> None:
        if class_name in self._set_up:
            return
        pool = self.pools[class_name]
        for (name, index), (_, synth, _) in sorted(self.entries.items()):
            if name != class_name:
                continue
            device = self.device if synth.model_backed or isinstance(self._device, str) else "cpu"
            try:
                synth.setup(pool, device)
            except AnomsetError as exc:
                if exc.file:
                    raise
                # A model's loading options failed (dtype on a CPU, a bad folder): locate them in the recipe.
                field = f"classes.{name}.generate[{index}]" + (f".{exc.field}" if exc.field else "")
                raise type(exc)(exc.message, file=self.loaded.path, field=field, fix=exc.fix) from None
        self._set_up.add(class_name)

    def synthesizer(self, spec: SampleSpec) -> Synthesizer | None:
        """The synthesizer of a synthetic sample's entry; None for copied samples."""
        return self.entries[(spec.class_name, spec.entry_index)][1] if spec.origin == SYNTHETIC else None

    def teardown(self) -> None:
        """Release what model-backed synthesizers loaded (once the build's shards are written)."""
        for _, synth, _ in self.entries.values():
            if synth.model_backed:
                synth.teardown()  # type: ignore[attr-defined]
        self._set_up.clear()

    def passes_filters(self, entry: tuple[str, int], candidate: Candidate, learned: bool = True) -> bool:
        """Whether every filter of the entry scores the candidate at or above its threshold
        (``learned=False``: only the filters that learn nothing from the class, as the probe uses)."""
        for position, (quality_filter, threshold) in enumerate(self.filters[entry]):
            if quality_filter.learned and not learned:
                continue
            score = quality_filter.score(candidate)
            if position > 0:  # the recipe's quality filter (after visibility): audited per try
                self._scores.append((score, score >= threshold))
            if score < threshold:
                return False
        return True

    def take_scores(self) -> list[tuple[float, bool]]:
        """(score, passed) of every try the recipe's quality filter scored since the last call."""
        scores, self._scores = self._scores, []
        return scores

    def render(self, spec: SampleSpec, seed: int | None = None) -> Sample:
        """One sample on its own, drawn from its own seed (or ``seed``); ``batching.render_samples`` renders a
        shard's model-backed entries in batches."""
        synth = self.synthesizer(spec)
        return drive(self.sample_steps(spec, seed), synth.apply if synth is not None else _no_request)

    def sample_steps(self, spec: SampleSpec, seed: int | None = None) -> Generator[Request, SynthResult, Sample]:
        """The sample as a coroutine: it yields each ``apply`` request (image, mask, context, rng), is sent
        the result, and returns the finished sample; copied samples return at once."""
        seed, rng = sample_rng(self.loaded.data_hash, spec.key) if seed is None else (seed, np.random.default_rng(seed))
        pool = self.pools[spec.class_name]
        item = pool.load(spec.source_key)
        base: dict[str, Any] = dict(key=spec.key, class_name=spec.class_name, split=spec.split,
                                    source_key=spec.source_key, planned_source_key=spec.source_key, seed=seed,
                                    data_hash=self.loaded.data_hash)
        if spec.origin != SYNTHETIC:
            mask = item.mask if spec.origin == REAL and item.mask is not None else np.zeros(self.size, np.uint8)
            defect = pool.by_key[spec.source_key].defect_type
            area, bbox = mask_stats(mask)
            meta = SampleMeta(defect_type=defect, origin=spec.origin, generator="", generator_params={},
                              mask_strategy="", mask_params={}, mask_area=area, bbox=bbox, **base)
            return Sample(item.image, mask, int(defect != GOOD), meta)
        self.set_up_class(spec.class_name)
        return (yield from self._synthesize(spec, item, rng, base))

    def _synthesize(self, spec: SampleSpec, item: LoadedItem, rng: np.random.Generator,
                    base: dict[str, Any]) -> Generator[Request, SynthResult, Sample]:
        entry = self.entries[(spec.class_name, spec.entry_index)][0]
        made = yield from self._producing(spec.class_name, spec.entry_index, spec.split, spec.source_key, item, rng)
        result, mask_name, mask_params, source_key, redraws = made
        as_normal = entry.label == "normal"
        out_mask = np.zeros(self.size, np.uint8) if as_normal else binarize(result.mask)
        area, bbox = mask_stats(out_mask)
        meta = SampleMeta(defect_type=GOOD if as_normal else (entry.defect_type or entry.synthesizer),
                          origin=SYNTHETIC, generator=entry.synthesizer, generator_params=result.params,
                          mask_strategy=mask_name, mask_params=mask_params, mask_area=area, bbox=bbox,
                          cluster=str(result.params.get("cluster", entry.cluster)),  # gaa/anogen: the group used
                          redraws=redraws, **{**base, "source_key": source_key})
        return Sample(result.image, out_mask, 0 if as_normal else 1, meta)

    def _produce(self, class_name: str, entry_index: int, split: str, planned_key: str, item: LoadedItem,
                 rng: np.random.Generator, learned: bool = True) -> tuple[SynthResult, str, dict[str, Any], str, int]:
        """``_producing`` with each request applied at once, on its own."""
        synth = self.entries[(class_name, entry_index)][1]
        return drive(self._producing(class_name, entry_index, split, planned_key, item, rng, learned), synth.apply)

    def _producing(self, class_name: str, entry_index: int, split: str, planned_key: str, item: LoadedItem,
                   rng: np.random.Generator, learned: bool = True
                   ) -> Generator[Request, SynthResult, tuple[SynthResult, str, dict[str, Any], str, int]]:
        """(result, mask strategy, mask params, source key used, redraws) for one synthetic sample.

        The redraw policy: ``max_redraws + 1`` tries (each a new mask, so a new placement, and new
        synthesis draws) on the planned normal; then the same on up to ``fallback_sources`` other
        normals of the same class and split, in an order drawn from the sample's own ``rng``. Only a
        sample that exhausts all of them stops the build: the entry, not one image, cannot produce.
        """
        entry = self.entries[(class_name, entry_index)][0]
        pool = self.pools[class_name]
        made = yield from self._try_source(class_name, entry_index, item, pool, rng, learned)
        if made[0] is not None:
            return (*made[:3], planned_key, made[3] - 1)  # type: ignore[return-value]
        tries = made[3]
        others = [n for n in pool.split_normals[split] if n.key != planned_key]
        order = rng.permutation(len(others))[:entry.fallback_sources] if others else []
        for position in order:
            key = others[int(position)].key
            made = yield from self._try_source(class_name, entry_index, pool.load(key), pool, rng, learned)
            tries += made[3]
            if made[0] is not None:
                return (*made[:3], key, tries - 1)  # type: ignore[return-value]
        where = f"on {planned_key}"
        if len(order):
            where += f" nor on {len(order)} other {split} normals of the class"
        raise SynthesisError(
            f"{entry.synthesizer} made no visible anomaly (mean change >= {entry.min_visibility}) {where} "
            f"({entry.max_redraws + 1} tries each)", file=self.loaded.path,
            field=f"classes.{class_name}.generate[{entry_index}]",
            fix="widen the params (opacity, area), lower min_visibility, or raise max_redraws / fallback_sources")

    def _try_source(self, class_name: str, entry_index: int, item: LoadedItem, pool: ClassPool,
                    rng: np.random.Generator, learned: bool = True
                    ) -> Generator[Request, SynthResult, tuple[SynthResult | None, str, dict[str, Any], int]]:
        """(result or None, mask strategy, mask params, tries made) on one normal image; each try's
        ``apply`` is a request the caller answers (alone, or batched with other samples')."""
        entry, synth, strategy = self.entries[(class_name, entry_index)]
        restrict = entry.mask.foreground if entry.mask is not None else True
        foreground = item.foreground if restrict and item.foreground is not None else np.full(self.size, 255, np.uint8)
        context = SampleContext(class_name, foreground, item.regions, pool, pool.is_texture, pool.grayscale)
        as_normal = entry.label == "normal"
        for attempt in range(entry.max_redraws + 1):
            mask, mask_name, mask_params = None, "", {}
            if synth.uses_mask:
                drawn = strategy(self.size, context, rng) if strategy else synth.propose_mask(self.size, context, rng)
                mask = drawn.mask & foreground
                mask_name = entry.mask.strategy if entry.mask else f"{entry.synthesizer}:own"
                mask_params = drawn.params
                if not mask.any():
                    continue
            result = yield item.image, mask, context, rng
            candidate = Candidate(class_name, item.image, result.image, result.mask)
            if as_normal or self.passes_filters((class_name, entry_index), candidate, learned):
                return result, mask_name, mask_params, attempt + 1
        return None, "", {}, entry.max_redraws + 1

    def probe(self) -> None:
        """Render one sample of every generation entry before anything is written (same policy, fixed
        seeds), so an entry that cannot produce at all stops the build before its first shard.

        It checks that an entry makes a visible change: learned filters (ARS) are not fitted for it, and
        model-backed synthesizers (``preflight = False``), whose setup loads a model, are left to the
        ranks that build their classes. The build runs it on one process only.
        """
        for (class_name, entry_index), (entry, synth, _) in sorted(self.entries.items()):
            normals = self.pools[class_name].split_normals[entry.split]
            if entry.count == 0 or not normals or not synth.preflight:
                continue
            self._set_up_synthesizers(class_name)
            rng = np.random.default_rng(derive_seed(self.loaded.data_hash, class_name, entry_index, "probe"))
            planned = normals[int(rng.integers(len(normals)))].key
            self._produce(class_name, entry_index, entry.split, planned, self.pools[class_name].load(planned), rng,
                          learned=False)


def _no_request(*_: Any) -> SynthResult:
    raise RuntimeError("a copied sample asked for synthesis")
