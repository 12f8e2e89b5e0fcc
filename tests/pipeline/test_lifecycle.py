"""The synthesizer lifecycle: built once per process when the recipe loads, set up once per class built."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from anomset.build.launch import prepare
from anomset.recipe import load_recipe
from anomset.registry import SOURCES, SYNTHESIZERS
from anomset.synth.base import Synthesizer
from anomset.workflow import build_dataset
from tests.conftest import tiny_recipe, write_recipe


def test_every_component_is_built_once_per_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: Counter[str] = Counter()
    for registry in (SOURCES, SYNTHESIZERS):
        for name, cls in registry:
            original = cls.__init__

            def counting(self, *args, _original=original, _name=name, **kwargs) -> None:
                built[_name] += 1
                _original(self, *args, **kwargs)

            monkeypatch.setattr(cls, "__init__", counting)
    build_dataset(load_recipe(write_recipe(tmp_path / "tiny.yaml", tiny_recipe())), tmp_path / "out", progress=False)
    # The tiny recipe: one toy source, one cutpaste entry, two draem entries.
    assert built == Counter(toy=1, cutpaste=1, draem=2)


def test_setup_runs_once_per_class_and_only_for_classes_rendered(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str, str]] = []

    def recording_setup(self, pool, device="cpu") -> None:
        calls.append((self.registry_name, pool.class_name, device))

    monkeypatch.setattr(Synthesizer, "setup", recording_setup)
    prepared = prepare(load_recipe(write_recipe(tmp_path / "tiny.yaml", tiny_recipe())))
    bricks = [spec for shard in prepared.plan if shard.class_name == "brick" for spec in shard.samples]
    for spec in bricks:
        prepared.renderer.render(spec)
    assert sorted(calls) == [("cutpaste", "brick", "cpu"), ("draem", "brick", "cpu")]
