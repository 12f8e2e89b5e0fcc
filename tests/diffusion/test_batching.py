"""Batches inside a shard: how they are cut, and that lockstep driving keeps each sample's redraw policy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from anomset.build.batching import batches, drive, drive_together
from anomset.build.plan import NORMAL, SYNTHETIC, SampleSpec
from anomset.context import ImagePool, SampleContext
from anomset.synth.base import SynthResult
from anomset.synth.model_backed import ModelBackedSynthesizer


class Brighten(ModelBackedSynthesizer):
    """A stand-in model: adds a per-sample drawn offset inside the mask; counts its calls."""

    def load(self, device: str) -> dict[str, Any]:
        return {"device": device, "calls": []}

    def synthesize_batch(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None],
                         contexts: Sequence[SampleContext], rngs: Sequence[np.random.Generator]) -> list[SynthResult]:
        self.model["calls"].append(len(images))
        out = []
        for image, mask, rng in zip(images, masks, rngs, strict=True):
            offset = int(rng.integers(1, 60))
            made = image.copy()
            made[mask > 0] = np.clip(made[mask > 0].astype(int) + offset, 0, 255)
            out.append(SynthResult(made, mask, {"offset": offset}))
        return out


class FakeRenderer:
    def __init__(self, synth_by_entry: dict[int, Any]) -> None:
        self.by_entry = synth_by_entry

    def synthesizer(self, spec: SampleSpec) -> Any:
        return self.by_entry[spec.entry_index] if spec.origin == SYNTHETIC else None


def _spec(i: int, entry: int) -> SampleSpec:
    return SampleSpec(f"c-train-{i:09d}", "c", "train", SYNTHETIC if entry >= 0 else NORMAL, "n", entry)


def test_batches_cut_runs_of_one_model_backed_entry_at_its_batch_size() -> None:
    model = Brighten(batch_size=3)
    type_free = type("Free", (), {"model_backed": False})()  # a stand-in for a model-free synthesizer
    renderer = FakeRenderer({0: model, 1: type_free, 2: Brighten(batch_size=2)})
    specs = [_spec(0, -1), _spec(1, 0), _spec(2, 0), _spec(3, 0), _spec(4, 0), _spec(5, 1), _spec(6, 1),
             _spec(7, 2), _spec(8, 2), _spec(9, 2)]
    groups = [[s.key[-1] for s in g] for g in batches(renderer, specs)]  # type: ignore[arg-type]
    assert groups == [["0"], ["1", "2", "3"], ["4"], ["5"], ["6"], ["7", "8"], ["9"]]


def _steps(image: np.ndarray, mask: np.ndarray, seed: int, threshold: int):
    """A sample's redraw policy in miniature: ask until the offset reaches ``threshold``."""
    rng = np.random.default_rng(seed)
    context = SampleContext.whole_image(image.shape[:2])
    tries = 0
    while True:
        tries += 1
        result = yield image, mask, context, rng
        if result.params["offset"] >= threshold:
            return result.params["offset"], tries


def test_lockstep_driving_gives_each_sample_what_it_gets_alone() -> None:
    image = np.full((16, 16, 3), 100, np.uint8)
    mask = np.zeros((16, 16), np.uint8)
    mask[4:12, 4:12] = 255
    synth = Brighten(batch_size=4)
    synth.setup(ImagePool([image]), "cpu")
    alone = [drive(_steps(image, mask, seed, 40), synth.apply) for seed in range(4)]
    calls_alone = list(synth.model["calls"])
    synth.model["calls"].clear()
    together = drive_together([_steps(image, mask, seed, 40) for seed in range(4)], synth.apply_batch)
    assert together == alone
    assert all(n == 1 for n in calls_alone)
    # First round batches all four; later rounds only the samples still redrawing.
    assert synth.model["calls"][0] == 4 and sorted(synth.model["calls"], reverse=True) == synth.model["calls"]
    assert sum(synth.model["calls"]) == sum(tries for _, tries in alone)


def test_setup_loads_once_per_device_and_teardown_releases() -> None:
    synth = Brighten()
    pool = ImagePool([np.zeros((8, 8, 3), np.uint8)])
    synth.setup(pool, "cpu")
    first = synth.model
    synth.setup(pool, "cpu")
    assert synth.model is first
    synth.teardown()
    synth.teardown()
    try:
        synth.model  # noqa: B018
    except RuntimeError as exc:
        assert "setup" in str(exc)
    else:
        raise AssertionError("the model must be gone after teardown")
    assert Brighten.preflight is False and Brighten.model_backed is True
