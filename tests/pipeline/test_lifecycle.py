"""The synthesizer lifecycle: built once per process when the recipe loads, set up once per class built."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from anomset.build.launch import open_source
from anomset.build.plan import make_plan
from anomset.build.render import Renderer
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
    loaded = load_recipe(write_recipe(tmp_path / "tiny.yaml", tiny_recipe()))
    source, index = open_source(loaded)
    renderer = Renderer(loaded, source, index)  # without the build's pre-flight probe, which sets up every class
    bricks = [spec for shard in make_plan(loaded, index) if shard.class_name == "brick" for spec in shard.samples]
    for spec in bricks:
        renderer.render(spec)
    assert sorted(calls) == [("cutpaste", "brick", "cpu"), ("draem", "brick", "cpu")]


def test_a_quality_filter_in_the_filter_stage_makes_the_renderer_redraw(tmp_path: Path) -> None:
    from anomset.build.plan import SYNTHETIC
    from anomset.quality.base import QualityFilter

    class RejectsTwice(QualityFilter):
        def __init__(self) -> None:
            super().__init__()
            self.seen, self.fitted = 0, None

        def fit(self, pool):  # type: ignore[no-untyped-def]
            self.fitted = pool.class_name
            return self

        def score(self, candidate) -> float:  # type: ignore[no-untyped-def]
            self.seen += 1
            return 1.0 if self.seen > 2 else 0.0

    loaded = load_recipe(write_recipe(tmp_path / "tiny.yaml", tiny_recipe()))
    source, index = open_source(loaded)
    renderer = Renderer(loaded, source, index)
    spec = next(s for shard in make_plan(loaded, index) for s in shard.samples if s.origin == SYNTHETIC)
    picky = RejectsTwice()
    renderer.filters[(spec.class_name, spec.entry_index)].append((picky, 0.5))
    sample = renderer.render(spec)
    assert picky.fitted == spec.class_name and picky.seen == 3 and sample.meta.redraws == 2


def test_only_one_process_probes_and_the_probe_fits_no_learned_filter(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from anomset.build.launch import prepare
    from anomset.build.plan import SYNTHETIC
    from anomset.quality.base import QualityFilter

    setups: list[str] = []
    monkeypatch.setattr(Synthesizer, "setup", lambda self, pool, device="cpu": setups.append(pool.class_name))

    class Learned(QualityFilter):
        learned = True

        def __init__(self) -> None:
            super().__init__()
            self.fits = 0

        def fit(self, pool):  # type: ignore[no-untyped-def]
            self.fits += 1
            return self

        def score(self, candidate) -> float:  # type: ignore[no-untyped-def]
            return 1.0

    loaded = load_recipe(write_recipe(tmp_path / "tiny.yaml", tiny_recipe()))
    assert prepare(loaded, probe=False) and setups == []  # a rank other than 0 sets nothing up before it builds
    prepared = prepare(loaded)
    assert sorted(set(setups)) == sorted(loaded.recipe.classes)  # rank 0's probe: one sample per entry
    renderer = prepared.renderer
    learned = Learned()
    for filters in renderer.filters.values():
        filters.append((learned, 0.5))
    renderer.probe()
    assert learned.fits == 0  # the probe checks visibility only
    spec = next(s for shard in prepared.plan for s in shard.samples if s.origin == SYNTHETIC)
    renderer.render(spec)
    assert learned.fits == 1  # on the class's first sample; entries sharing one filter instance share its fit


def test_the_probe_leaves_model_backed_synthesizers_to_their_ranks(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from anomset.build.launch import prepare

    setups: list[str] = []
    monkeypatch.setattr(Synthesizer, "setup", lambda self, pool, device="cpu": setups.append(self.registry_name))
    monkeypatch.setattr(Synthesizer, "preflight", False)
    prepare(load_recipe(write_recipe(tmp_path / "tiny.yaml", tiny_recipe())))
    assert setups == []
