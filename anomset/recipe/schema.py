"""The recipe: the single source of truth for a build, as pydantic models."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from anomset.concepts.spec import ConceptsSpec
from anomset.configurable import StrictModel
from anomset.recipe.licenses import check_license

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]*$")
SPLITS = ("train", "test")


def _count(value: Any) -> Any:
    if value == "all" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise ValueError(f"expected a count >= 0 or 'all' (got {value!r})")


Count = Annotated[int | Literal["all"], BeforeValidator(_count)]


def _share(value: Any) -> Any:
    """A share in [0, 1]: a number, or a fraction written ``a/b`` (``1/3`` is exactly a third)."""
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*/\s*\d+\s*", value):
        top, bottom = (int(part) for part in value.split("/"))
        if bottom > 0 and top <= bottom:
            return f"{top}/{bottom}"
    elif isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
        return float(value)
    raise ValueError(f"expected a share between 0 and 1, as a number or a fraction such as 1/3 (got {value!r})")


Share = Annotated[float | str, BeforeValidator(_share)]


class SourceSpec(StrictModel):
    """Where normal images (and real defects) come from."""

    type: str = Field(description="a registered source name (anomset list)")
    params: dict[str, Any] = Field(default_factory=dict)


class OutputSpec(StrictModel):
    """How samples are written."""

    dir: str | None = Field(default=None, description="default output folder; --out overrides it")
    image_size: tuple[int, int] = Field(default=(256, 256), description="[height, width] of every sample")
    shard_size: int = Field(default=256, ge=1, le=100_000, description="samples per tar shard")
    png_compression: int = Field(default=1, ge=0, le=9)

    @field_validator("dir")
    @classmethod
    def _dir_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("empty folder name; leave output.dir out and pass --out, or name a folder")
        return value

    @field_validator("image_size", mode="before")
    @classmethod
    def _square_from_int(cls, value: Any) -> Any:
        return (value, value) if isinstance(value, int) else value

    @field_validator("image_size")
    @classmethod
    def _positive(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 16 or max(value) > 8192:
            raise ValueError("each side must be between 16 and 8192 pixels")
        return value


class MaskSpec(StrictModel):
    """Where the anomaly goes: a registered mask strategy, its params, and foreground restriction."""

    strategy: str
    params: dict[str, Any] = Field(default_factory=dict)
    foreground: bool = Field(default=True, description="keep the mask on the object (textures: everywhere)")


class QualitySpec(StrictModel):
    """A quality filter on an entry's candidates: keep the best share (``keep_top``) or those at or above
    ``min_score``. Exactly one of the two; the filter's own range for ``min_score`` is checked at load."""

    filter: str = Field(description="a registered quality filter (anomset list quality), e.g. ars")
    params: dict[str, Any] = Field(default_factory=dict)
    keep_top: float | None = Field(default=None, gt=0, le=1,
                                   description="draw ceil(n / keep_top) candidates per shard, keep the best n")
    min_score: float | None = Field(default=None, allow_inf_nan=False,
                                    description="redraw until a candidate scores at least this")

    @model_validator(mode="after")
    def _one_rule(self) -> QualitySpec:
        if (self.keep_top is None) == (self.min_score is None):
            raise ValueError("give exactly one of keep_top (a share in (0, 1]) or min_score (a threshold)")
        return self


class GenerateSpec(StrictModel):
    """One generation entry: ``count`` samples from one synthesizer."""

    synthesizer: str
    params: dict[str, Any] = Field(default_factory=dict)
    count: int = Field(ge=0, le=10_000_000)
    mask: MaskSpec | None = Field(default=None, description="override the synthesizer's own mask shape")
    split: Literal["train", "test"] = "train"
    label: Literal["anomaly", "normal"] = Field(
        default="anomaly", description="'normal' keeps the output as an extra normal (e.g. rotation)")
    defect_type: str | None = Field(default=None, description="label in the json; default: synthesizer name")
    cluster: str = ""
    min_visibility: float = Field(default=2.0, ge=0, description="mean |change| inside the mask, 0-255 scale")
    max_redraws: int = Field(default=20, ge=0, le=1000, description="tries beyond the first on one normal image")
    fallback_sources: int = Field(default=4, ge=0, le=1000,
                                  description="other normals of the class and split to try when one cannot host it")
    quality: QualitySpec | None = Field(default=None, description="a quality filter; default: the class's quality")

    @field_validator("defect_type")
    @classmethod
    def _defect_name(cls, value: str | None) -> str | None:
        if value is not None and not NAME_PATTERN.match(value):
            raise ValueError("use lowercase letters, digits and '_' only")
        return value


class SplitCounts(StrictModel):
    """How many source samples to copy into each output split ('all' takes every one)."""

    train: Count = 0
    test: Count = 0


class ClassPlan(StrictModel):
    """What to build for one class."""

    normals: SplitCounts = Field(default_factory=lambda: SplitCounts(train="all", test="all"))
    real_defects: SplitCounts = Field(default_factory=lambda: SplitCounts(train=0, test="all"))
    shown_defects: Share = Field(
        default=0.0,
        description="share of each real test-defect type that generators may learn from (the few-shot "
                    "papers use 1/3: floor(share x n) of n); those are held out of the output test split")
    shown_selection: Literal["first", "random"] = Field(
        default="first", description="first: the first of each type in sorted file order (the papers' split); "
                                     "random: a draw seeded by the data hash")
    generate: list[GenerateSpec] = Field(default_factory=list)
    quality: QualitySpec | None = Field(default=None, description="the quality filter of entries that set none")


class HubSpec(StrictModel):
    """Where the dataset is published (``anomset push`` / ``build --push``)."""

    repo: str | None = None
    private: bool = False


class Recipe(StrictModel):
    """A whole recipe file."""

    name: str
    version: str = "1.0.0"
    pretty_name: str | None = None
    description: str = ""
    license: str = Field(default="unknown", description="a Hub licence identifier, or 'other' with a name and link")
    license_name: str | None = Field(default=None, description="with license: other, the licence's short name")
    license_link: str | None = Field(default=None, validate_default=True,
                                     description="with license: other, a URL or repo file (LICENSE)")
    seed: int = 0
    source: SourceSpec
    output: OutputSpec = Field(default_factory=OutputSpec)
    classes: dict[str, ClassPlan] = Field(min_length=1)
    hub: HubSpec = Field(default_factory=HubSpec)
    concepts: ConceptsSpec | None = Field(default=None, description="few-shot concepts for gaa / anogen")

    @field_validator("name")
    @classmethod
    def _dataset_name(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$", value):
            raise ValueError("use letters, digits, '.', '_' or '-' (a Hub repo name)")
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.match(r"^[0-9A-Za-z][0-9A-Za-z._-]*$", value):
            raise ValueError("use a tag-safe version such as 1.0.0")
        return value

    @field_validator("license")
    @classmethod
    def _hub_license(cls, value: str) -> str:
        return check_license(value)

    @field_validator("license_name")
    @classmethod
    def _license_name(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[a-z0-9][a-z0-9._-]*$", value):
            raise ValueError("use a short id of lowercase letters, digits, '.', '_' or '-' (e.g. my-company-license)")
        return value

    @field_validator("license_link")
    @classmethod
    def _other_license_named(cls, value: str | None, info: ValidationInfo) -> str | None:
        license_id, name = info.data.get("license"), info.data.get("license_name")
        if license_id == "other" and not (name and value and value.strip()):
            raise ValueError("license 'other' needs license_name and license_link (a URL, or LICENSE in the repo)")
        if license_id not in (None, "other") and (name is not None or value is not None):
            raise ValueError("license_name and license_link go with license: other only; remove them")
        return value

    @field_validator("classes")
    @classmethod
    def _class_names(cls, value: dict[str, ClassPlan]) -> dict[str, ClassPlan]:
        for name in value:
            if not NAME_PATTERN.match(name):
                raise ValueError(f"class name {name!r}: use lowercase letters, digits and '_' only")
        return value
