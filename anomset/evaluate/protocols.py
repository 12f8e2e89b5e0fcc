"""Evaluation protocols: which training set each detector run sees and which test sets it is scored on.

A protocol turns what a dataset holds (``ClassInfo``: one entry per train sample, from the samples'
json) into **jobs**: one training set (``select`` picks its rows from the class's pool) and the
**targets** it is scored on, each giving one results row. Nothing looks at the real test set to
choose a model: schedules are fixed, and every draw of a subset comes from the unit's seed.

- ``plain``: the whole train split.
- ``ratio``: normals + the few-shot real defects (the shown third) + ``ratio × n_real`` synthetic
  anomalies (ASBench / the few-shot papers' synthetic : real sweep).
- ``count``: normals + ``n`` synthetic anomalies (ExDD's 25 / 50 / 100 / 200).
- ``hybrid``: normals + the anomalies of a set of generators (each alone and mixed).
- ``cross``: trained on one class, scored on the real test set of every other.
- ``simulated``: trained on one generator's anomalies, scored on the anomalies of each other
  generator (never seen in training) beside the real test normals (augmentation framework, Table 3).
- ``correlation``: no training; across generators, Spearman and Pearson between the quality figures
  of results.json and the hybrid protocol's single-generator scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, ValidationError, field_validator

from anomset.configurable import Configurable, StrictModel, format_validation_error
from anomset.errors import RecipeError
from anomset.registry import PROTOCOLS

REAL, HELD_OUT = "real", "held_out"


@dataclass(frozen=True)
class TrainRow:
    """What a protocol may know of one training sample."""

    label: int
    origin: str  # normal | real | synthetic | shown (a few-shot real defect from the test source)
    generator: str


@dataclass(frozen=True)
class ClassInfo:
    """A class's training pool (the build's train split, then the shown real defects) and its held-out sets."""

    name: str
    rows: tuple[TrainRow, ...]
    held_out: dict[str, int] = field(default_factory=dict)  # generator -> its anomalies in the build's test split

    def indices(self, *, origin: str | None = None, label: int | None = None,
                generators: Sequence[str] | None = None) -> np.ndarray:
        return np.array([i for i, r in enumerate(self.rows)
                         if (origin is None or r.origin == origin) and (label is None or r.label == label)
                         and (generators is None or r.generator in generators)], np.int64)

    @property
    def normals(self) -> np.ndarray:
        return self.indices(label=0)

    @property
    def synthetic(self) -> np.ndarray:
        return self.indices(origin="synthetic", label=1)

    @property
    def shown(self) -> np.ndarray:
        return self.indices(origin="shown")

    def anomaly_generators(self) -> list[str]:
        return sorted({r.generator for r in self.rows if r.label == 1 and r.origin == "synthetic"})


@dataclass(frozen=True)
class Target:
    """One results row of a job (row class ``class_name``): scored on ``kind``, the real test set of
    ``scored_class``, or the held-out anomalies of ``generator`` beside its real test normals."""

    class_name: str
    setting: dict[str, Any]
    kind: str = REAL
    generator: str = ""
    test_class: str = ""  # whose test set is scored; default: class_name

    @property
    def scored_class(self) -> str:
        return self.test_class or self.class_name


@dataclass(frozen=True)
class Job:
    """One training set of one class (a unit per detector and seed) and the targets it is scored on."""

    protocol: str
    class_name: str
    setting: dict[str, Any]
    targets: tuple[Target, ...]


class Protocol(Configurable):
    """A protocol: ``plan`` gives the jobs, ``select`` a job's training rows."""

    NEEDS: ClassVar[tuple[str, ...]] = ()  # protocols whose rows it reads

    def plan(self, info: dict[str, ClassInfo], classes: list[str]) -> tuple[list[Job], list[str]]:
        """The jobs over ``classes`` (the evaluated ones) and one note per setting that cannot run."""
        jobs: list[Job] = []
        notes: list[str] = []
        for name in classes:
            for setting in self.settings(info[name], notes):
                jobs.append(Job(self.registry_name, name, setting, (Target(name, setting),)))
        return jobs, notes

    def settings(self, info: ClassInfo, notes: list[str]) -> list[dict[str, Any]]:
        return [{}]

    def select(self, info: ClassInfo, setting: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        """Pool rows of the training set, sorted."""
        return np.sort(np.concatenate([info.indices(origin=o) for o in ("normal", "real", "synthetic")]))


def _draw(indices: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(indices, size=count, replace=False)) if count < len(indices) else indices


@PROTOCOLS.register("plain")
class Plain(Protocol):
    """The whole train split of each class, scored on its real test set."""


class RatioParams(StrictModel):
    ratios: list[float] = Field(default_factory=lambda: [0.0, 0.25, 0.5, 1.0, 2.0, 4.0], min_length=1)

    @field_validator("ratios")
    @classmethod
    def _non_negative(cls, value: list[float]) -> list[float]:
        if min(value) < 0 or len(set(value)) != len(value):
            raise ValueError("ratios must be distinct numbers >= 0")
        return sorted(value)


@PROTOCOLS.register("ratio")
class Ratio(Protocol):
    """Normals + the shown real defects + ratio × as many synthetic anomalies (a curve over ratios)."""

    Params = RatioParams

    def settings(self, info: ClassInfo, notes: list[str]) -> list[dict[str, Any]]:
        real, synthetic = len(info.shown), len(info.synthetic)
        if real == 0:
            notes.append(f"ratio: class {info.name} has no shown real defects (test.shown_defects); skipped")
            return []
        out = []
        for ratio in self.params.ratios:
            need = round(ratio * real)
            if need > synthetic:
                notes.append(f"ratio: class {info.name}: ratio {ratio:g} needs {need} synthetic anomalies, "
                             f"the dataset has {synthetic}; skipped")
            else:
                out.append({"synthetic_ratio": ratio})
        return out

    def select(self, info: ClassInfo, setting: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        need = round(setting["synthetic_ratio"] * len(info.shown))
        drawn = _draw(info.synthetic, need, rng) if need else np.zeros(0, np.int64)
        return np.sort(np.concatenate([info.normals, info.shown, drawn]))


class CountParams(StrictModel):
    counts: list[int] = Field(default_factory=lambda: [25, 50, 100, 200], min_length=1)

    @field_validator("counts")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if min(value) < 1 or len(set(value)) != len(value):
            raise ValueError("counts must be distinct integers >= 1")
        return sorted(value)


@PROTOCOLS.register("count")
class Count(Protocol):
    """Normals + n synthetic anomalies drawn from the dataset (a curve over n)."""

    Params = CountParams

    def settings(self, info: ClassInfo, notes: list[str]) -> list[dict[str, Any]]:
        available = len(info.synthetic)
        out = []
        for count in self.params.counts:
            if count > available:
                notes.append(f"count: class {info.name}: {count} synthetic anomalies asked, the dataset has "
                             f"{available}; skipped")
            else:
                out.append({"synthetic_count": count})
        return out

    def select(self, info: ClassInfo, setting: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        return np.sort(np.concatenate([info.normals, _draw(info.synthetic, setting["synthetic_count"], rng)]))


class HybridParams(StrictModel):
    mixtures: list[list[str]] | None = Field(
        default=None, description="generator sets to train on; default: each generator alone, then all of them")


@PROTOCOLS.register("hybrid")
class Hybrid(Protocol):
    """Normals + the anomalies of each generator alone and of mixtures of generators."""

    Params = HybridParams

    def settings(self, info: ClassInfo, notes: list[str]) -> list[dict[str, Any]]:
        available = info.anomaly_generators()
        mixtures = self.params.mixtures
        if mixtures is None:
            mixtures = [[g] for g in available] + ([available] if len(available) > 1 else [])
        out = []
        for mixture in mixtures:
            missing = sorted(set(mixture) - set(available))
            if missing:
                notes.append(f"hybrid: class {info.name} has no anomalies of {', '.join(missing)}; "
                             f"mixture {'+'.join(sorted(mixture))} skipped")
            else:
                out.append({"generators": "+".join(sorted(set(mixture)))})
        return out

    def select(self, info: ClassInfo, setting: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        chosen = info.indices(origin="synthetic", label=1, generators=setting["generators"].split("+"))
        return np.sort(np.concatenate([info.normals, chosen]))


class CrossParams(StrictModel):
    train_classes: list[str] | None = Field(default=None, description="default: every evaluated class")


@PROTOCOLS.register("cross")
class Cross(Protocol):
    """Trained on one class's train split, scored on the real test set of every class (a matrix)."""

    Params = CrossParams

    def plan(self, info: dict[str, ClassInfo], classes: list[str]) -> tuple[list[Job], list[str]]:
        sources = self.params.train_classes or classes
        jobs = [Job(self.registry_name, a, {}, tuple(Target(a, {"test_class": b}, test_class=b) for b in classes))
                for a in sources if a in info]
        missing = [a for a in sources if a not in info]
        return jobs, [f"cross: the dataset has no class {a}; skipped" for a in missing]


@PROTOCOLS.register("simulated")
class Simulated(Protocol):
    """Trained on one generator's anomalies, scored on each other generator's (never seen) beside the real
    test normals; the diagonal where the build has test-split anomalies of that generator (a matrix)."""

    def plan(self, info: dict[str, ClassInfo], classes: list[str]) -> tuple[list[Job], list[str]]:
        jobs, notes = [], []
        for name in classes:
            generators = info[name].anomaly_generators()
            if len(generators) < 2:
                notes.append(f"simulated: class {name} has {len(generators)} generator(s); needs two; skipped")
                continue
            for g in generators:
                targets = tuple(Target(name, {"train_generator": g, "test_generator": h}, HELD_OUT, h)
                                for h in generators if h != g or info[name].held_out.get(h))
                jobs.append(Job(self.registry_name, name, {"train_generator": g}, targets))
        return jobs, notes

    def select(self, info: ClassInfo, setting: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        chosen = info.indices(origin="synthetic", label=1, generators=[setting["train_generator"]])
        return np.sort(np.concatenate([info.normals, chosen]))


class CorrelationParams(StrictModel):
    detector_metric: str = Field(default="pixel_auroc", description="the hybrid figure to correlate")


@PROTOCOLS.register("correlation")
class Correlation(Protocol):
    """Across generators, Spearman and Pearson between results.json quality figures and hybrid scores."""

    Params = CorrelationParams
    NEEDS = ("hybrid",)

    def plan(self, info: dict[str, ClassInfo], classes: list[str]) -> tuple[list[Job], list[str]]:
        return [], []


def build_protocol(name: str, params: dict[str, Any], *, file: str, field: str) -> Protocol:
    """A protocol by name, every problem a located ``RecipeError``."""
    if name not in PROTOCOLS:
        raise RecipeError(PROTOCOLS.unknown_message(name), file=file, field=f"{field}.type")
    try:
        return PROTOCOLS.get(name)(**params)
    except ValidationError as exc:
        sub, message = format_validation_error(exc)
        raise RecipeError(message, file=file, field=f"{field}.params" + (f".{sub}" if sub else "")) from None


def correlations(quality: dict[str, float], scores: dict[str, float]) -> dict[str, float] | None:
    """Spearman and Pearson between per-generator quality figures and detector scores (None below 3 pairs)."""
    from scipy.stats import pearsonr, spearmanr

    common = sorted(set(quality) & set(scores))
    if len(common) < 3:
        return None
    q = np.array([quality[g] for g in common])
    s = np.array([scores[g] for g in common])
    if np.ptp(q) == 0 or np.ptp(s) == 0:
        return None
    return {"spearman": float(spearmanr(q, s).statistic), "pearson": float(pearsonr(q, s).statistic),
            "generators": float(len(common))}


__all__ = ["PROTOCOLS", "ClassInfo", "Job", "Protocol", "Target", "TrainRow", "build_protocol", "correlations"]
