"""The evaluator recipe: which dataset to train on, which real test set to score, detectors, protocols, seeds.

Validated like a build recipe: unknown keys are errors with a close match, every problem is one
``RecipeError`` line naming the file and the dotted field. Its ``eval_hash`` covers everything that
decides the figures except locations (the dataset folder, the output folder and the test source's
``root``-like params), so the same evaluation of the same data on another machine has the same hash.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from anomset.configurable import StrictModel
from anomset.errors import RecipeError
from anomset.recipe.schema import Share, SourceSpec
from anomset.registry import DETECTORS, SOURCES, did_you_mean

EVAL_KEYS = ("dataset", "test", "detectors")  # a YAML mapping with these is an eval recipe
IMAGE_METRICS = ("image_auroc", "image_ap", "image_f1_max")
PIXEL_METRICS = ("pixel_auroc", "pixel_ap", "pixel_f1_max", "pixel_pro")
CLASS_METRICS = ("accuracy",)
METRICS = IMAGE_METRICS + PIXEL_METRICS + CLASS_METRICS
DEFAULT_METRICS = IMAGE_METRICS + PIXEL_METRICS


class HubDataset(StrictModel):
    """A published anomset dataset, read with ``datasets.load_dataset(hub, <class>, revision=...)``."""

    hub: str = Field(description="Hub id org/name, or a local folder load_dataset reads")
    revision: str | None = Field(default=None, description="tag, branch or commit (pin it: v1.0.0)")


class TestSpec(StrictModel):
    """The real test set: any registered source, with the few-shot rule applied."""

    __test__ = False

    source: SourceSpec
    classes: list[str] | None = Field(default=None, description="default: every class of the dataset")
    shown_defects: Share = Field(
        default="1/3", description="share of each real defect type generators may have seen: never scored "
                                   "(the build manifest's shown_defects are excluded as well)")
    shown_selection: str = Field(default="first", pattern="^(first|random)$")


class DetectorSpec(StrictModel):
    """One reference detector: a registered ``type`` and its constructor ``params``."""

    type: str = Field(description="a registered detector (anomset list detectors)")
    name: str | None = Field(default=None, description="row label; default: the type")
    params: dict[str, Any] = Field(default_factory=dict)


class ProtocolSpec(StrictModel):
    """One protocol and its params (``anomset.evaluate.protocols``)."""

    type: str
    params: dict[str, Any] = Field(default_factory=dict)


class EvalRecipe(StrictModel):
    """A whole eval recipe file."""

    dataset: str | HubDataset = Field(description="a build folder, or {hub: org/name, revision: v1.0.0}")
    output: str | None = Field(default=None, description="folder for benchmarks/ (default: the build folder)")
    test: TestSpec
    detectors: list[DetectorSpec] = Field(min_length=1)
    protocols: list[ProtocolSpec] = Field(default_factory=lambda: [ProtocolSpec(type="plain")])
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    metrics: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS), min_length=1)
    image_size: int | None = Field(default=None, ge=16, le=8192,
                                   description="side test images are resized to (default: the dataset's)")

    @field_validator("protocols", mode="before")
    @classmethod
    def _bare_names(cls, value: Any) -> Any:
        return [{"type": v} if isinstance(v, str) else v for v in value] if isinstance(value, list) else value

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value) or min(value) < 0:
            raise ValueError("seeds must be distinct integers >= 0")
        return value

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in METRICS:
                raise ValueError(f"unknown metric {name!r}; {did_you_mean(name, list(METRICS))}"
                                 f"known: {', '.join(METRICS)}")
        return value

    @field_validator("detectors")
    @classmethod
    def _unique_labels(cls, value: list[DetectorSpec]) -> list[DetectorSpec]:
        labels = [d.name or d.type for d in value]
        for label in labels:
            if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", label):
                raise ValueError(f"detector name {label!r}: use letters, digits, '_', '.' or '-'")
        if len(set(labels)) != len(labels):
            raise ValueError("two detectors share a name; give each a distinct name: (one row label per detector)")
        return value


@dataclass(frozen=True)
class LoadedEval:
    """A validated eval recipe, its resolved form (defaults filled in), its hash and its components."""

    path: str
    recipe: EvalRecipe
    resolved: dict[str, Any]
    eval_hash: str
    detectors: dict[str, Any] = field(compare=False, repr=False)  # label -> (cls, resolved params)
    protocols: list[Any] = field(compare=False, repr=False)  # protocol objects
    source: Any = field(compare=False, repr=False)

    def dataset_folder(self) -> Path | None:
        """The build folder, or None for a Hub dataset."""
        return None if isinstance(self.recipe.dataset, HubDataset) else self._relative(self.recipe.dataset)

    def output_folder(self) -> Path:
        out = self.recipe.output
        if out is not None:
            return self._relative(out)
        folder = self.dataset_folder()
        if folder is None:
            raise RecipeError("a Hub dataset needs an output folder for its benchmarks", file=self.path,
                              field="output", fix="add output: <folder>")
        return folder

    def _relative(self, value: str) -> Path:
        # Relative paths are relative to the current folder, as for build recipes' output.dir.
        return Path(value)


def is_eval_recipe(data: Any) -> bool:
    """Whether parsed YAML looks like an eval recipe (it names a dataset to evaluate, not a source to build)."""
    return isinstance(data, dict) and "dataset" in data and "classes" not in data


def read_yaml(path: str | Path) -> Any:
    """A YAML file's content, or a one-line ``RecipeError``."""
    from anomset.recipe.load import parse_recipe_yaml, read_recipe_file

    return parse_recipe_yaml(read_recipe_file(path), str(path))


def load_eval_recipe(path: str | Path) -> LoadedEval:
    """Load and validate an eval recipe file."""
    return load_eval_data(read_yaml(path), str(path))


def load_eval_data(data: Any, file: str = "<eval recipe>") -> LoadedEval:
    """Validate parsed eval-recipe YAML; build (only construct) its detectors, protocols and test source."""
    from anomset.evaluate.protocols import build_protocol
    from anomset.recipe.load import build_component, validate_recipe

    if not isinstance(data, dict):
        raise RecipeError("an eval recipe must be a YAML mapping (dataset:, test:, detectors: ...)", file=file)
    recipe = validate_recipe(EvalRecipe, data, file)
    resolved = recipe.model_dump(mode="json")
    source = build_component(SOURCES, recipe.test.source.type, recipe.test.source.params, file=file,
                             field="test.source.type")
    resolved["test"]["source"]["params"] = source.resolved_params()
    detectors: dict[str, Any] = {}
    for index, spec in enumerate(recipe.detectors):
        detector = build_component(DETECTORS, spec.type, spec.params, file=file, field=f"detectors[{index}].type")
        label = spec.name or spec.type
        resolved["detectors"][index].update(name=label, params=detector.resolved_params())
        detectors[label] = (type(detector), detector.resolved_params())
    # accuracy is a classifier's figure: rows of the other detectors leave it out.
    if "accuracy" in recipe.metrics and not any(hasattr(cls, "classify") for cls, _ in detectors.values()):
        raise RecipeError("metric accuracy needs a detector that classifies defect types (resnet_cls); none of "
                          f"{', '.join(detectors)} does", file=file, field="metrics",
                          fix="drop accuracy from metrics, or add a classifier such as resnet_cls")
    protocols = []
    for index, spec in enumerate(recipe.protocols):
        protocol = build_protocol(spec.type, spec.params, file=file, field=f"protocols[{index}]")
        resolved["protocols"][index]["params"] = protocol.resolved_params()
        protocols.append(protocol)
    names = [p.registry_name for p in protocols]
    if len(set(names)) != len(names):
        raise RecipeError("a protocol is listed twice", file=file, field="protocols", fix="list each once")
    for index, protocol in enumerate(protocols):
        missing = [n for n in protocol.NEEDS if n not in names]
        if missing:
            raise RecipeError(f"{protocol.registry_name} compares the figures of {', '.join(missing)}, which is "
                              "not in this recipe", file=file, field=f"protocols[{index}]",
                              fix=f"add {', '.join(missing)} to protocols")
    return LoadedEval(file, recipe, resolved, eval_hash(resolved), detectors, protocols, source)


def eval_hash(resolved: dict[str, Any]) -> str:
    """sha256 of the resolved eval recipe without locations (dataset folder, output, test source paths)."""
    spec = json.loads(json.dumps(resolved))
    spec.pop("output", None)
    if isinstance(spec["dataset"], str):
        spec["dataset"] = "<folder>"
    source = spec["test"]["source"]
    for key in SOURCES.get(source["type"]).LOCATION_PARAMS:
        source["params"].pop(key, None)
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
