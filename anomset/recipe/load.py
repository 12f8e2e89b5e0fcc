"""Read a recipe file, validate it once, resolve defaults and compute its identity (``identity``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from anomset.configurable import Configurable, format_validation_error
from anomset.errors import RecipeError, UnknownNameError
from anomset.recipe.identity import data_hash, data_spec, recipe_hash
from anomset.recipe.schema import QualitySpec, Recipe
from anomset.registry import MASKS, QUALITY_FILTERS, SOURCES, SYNTHESIZERS, Registry

if TYPE_CHECKING:
    from anomset.masks.base import MaskStrategy
    from anomset.quality.base import QualityFilter
    from anomset.sources.base import Source
    from anomset.synth.base import Synthesizer

EntryKey = tuple[str, int]  # (class name, index into its generate list)
ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class QualityRule:
    """An entry's quality filter, built once at load, and how it decides: ``keep_top`` or ``min_score``.

    Entries that inherit their class's ``quality`` share one filter instance (one fit per class).
    """

    filter: QualityFilter
    keep_top: float | None
    min_score: float | None
    field: str  # where the recipe sets it (classes.<c>.quality or classes.<c>.generate[i].quality)


@dataclass(frozen=True)
class Components:
    """The recipe's source, synthesizers and mask strategies, built once when the recipe is loaded.

    Constructors only validate and store params, so building them is cheap and side-effect free; what
    is heavy (texture banks, models) happens in ``Synthesizer.setup`` on the rank that builds a class.
    """

    source: Source
    synthesizers: dict[EntryKey, Synthesizer]
    masks: dict[EntryKey, MaskStrategy]
    quality: dict[EntryKey, QualityRule] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedRecipe:
    """A validated recipe, its resolved (defaults-filled) form and its identities.

    ``data_hash`` identifies the data (it keys every random stream); ``recipe_hash`` also covers the
    metadata that only the card shows.
    """

    path: str
    recipe: Recipe
    resolved: dict[str, Any]
    recipe_hash: str
    data_hash: str
    components: Components = field(compare=False, repr=False)

    @property
    def data(self) -> dict[str, Any]:
        """The data-defining part of the resolved recipe (recorded by the build state to name changes)."""
        return data_spec(self.resolved)

    def to_yaml(self) -> str:
        header = f"# resolved by anomset; data_hash: {self.data_hash}; recipe_hash: {self.recipe_hash}\n"
        return header + yaml.safe_dump(self.resolved, sort_keys=False, allow_unicode=True)


def load_recipe(path: str | Path) -> LoadedRecipe:
    """Load and validate ``path``; every problem raises ``RecipeError`` naming file and field."""
    return load_recipe_text(read_recipe_file(path), str(path))


def load_recipe_text(text: str, file: str = "<recipe>") -> LoadedRecipe:
    """Validate recipe YAML given as text (``file`` is only used in messages)."""
    data = parse_recipe_yaml(text, file)
    if not isinstance(data, dict):
        raise RecipeError("a recipe must be a YAML mapping (name:, source:, classes: ...)", file=file)
    recipe = validate_recipe(Recipe, data, file)
    resolved, components = _resolve(recipe, file)
    return LoadedRecipe(file, recipe, resolved, recipe_hash(resolved), data_hash(resolved), components)


def read_recipe_file(path: str | Path) -> str:
    """A recipe file's text (build or eval recipe), or a one-line ``RecipeError``."""
    file = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError("recipe file not found", file=file, fix="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read recipe: {exc}", file=file) from None


def parse_recipe_yaml(text: str, file: str) -> Any:
    """Recipe YAML parsed, or a ``RecipeError`` naming the line and column."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise RecipeError(f"invalid YAML: {problem}", file=file, field=where,
                          fix="check indentation and quoting") from None


def validate_recipe(model: type[ModelT], data: dict[str, Any], file: str) -> ModelT:
    """``data`` validated as ``model``; the first problem becomes a ``RecipeError`` naming its field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, message = format_validation_error(exc)
        raise RecipeError(message, file=file, field=field) from None


def build_component(registry: Registry, name: str, params: dict[str, Any], *, file: str,
                    field: str) -> Configurable:
    """Instantiate a registered component, turning every problem into a located ``RecipeError``."""
    try:
        cls = registry.get(name)
    except UnknownNameError as exc:
        raise RecipeError(exc.message, file=file, field=field) from None
    try:
        return cls(**params)
    except ValidationError as exc:
        sub, message = format_validation_error(exc)
        params_field = field.rsplit(".", 1)[0] + ".params"
        raise RecipeError(message, file=file, field=f"{params_field}.{sub}" if sub else params_field) from None
    except (TypeError, ValueError) as exc:
        raise RecipeError(str(exc), file=file, field=field.rsplit(".", 1)[0] + ".params") from None


def _resolve(recipe: Recipe, file: str) -> tuple[dict[str, Any], Components]:
    """The recipe with every default filled in (components' params included), and those components."""
    resolved = recipe.model_dump(mode="json")
    if resolved.get("concepts") is None:
        resolved.pop("concepts", None)  # recipes without concepts keep the hashes they had
    source = build_component(SOURCES, recipe.source.type, recipe.source.params, file=file, field="source.type")
    resolved["source"]["params"] = source.resolved_params()
    components = Components(source, {}, {})  # type: ignore[arg-type]
    for class_name, plan in recipe.classes.items():
        class_rule = None
        if plan.quality is None:
            resolved["classes"][class_name].pop("quality", None)  # absent: the data hash stays as before
        else:
            class_rule = _quality_rule(plan.quality, f"classes.{class_name}.quality", file)
            resolved["classes"][class_name]["quality"]["params"] = class_rule.filter.resolved_params()
        for index, entry in enumerate(plan.generate):
            where = f"classes.{class_name}.generate[{index}]"
            synth = build_component(SYNTHESIZERS, entry.synthesizer, entry.params, file=file,
                                    field=f"{where}.synthesizer")
            components.synthesizers[(class_name, index)] = synth  # type: ignore[assignment]
            if getattr(synth, "uses_concepts", False):  # gaa, anogen: concepts learned by anomset learn
                source_data = data_spec({"source": resolved["source"], "classes": {}})["source"]
                synth.bind_concepts(recipe.concepts, class_name, source_data,  # type: ignore[attr-defined]
                                    recipe.output.image_size, file=file, field=f"{where}.synthesizer",
                                    cluster=entry.cluster)
            out = resolved["classes"][class_name]["generate"][index]
            out["params"] = synth.resolved_params()
            if out["defect_type"] is None:
                out["defect_type"] = entry.synthesizer
            if entry.mask is not None and not synth.uses_mask:
                raise RecipeError(f"{entry.synthesizer} places its own change and takes no mask",
                                  file=file, field=f"{where}.mask", fix="remove mask:")
            if entry.mask is not None:
                mask = build_component(MASKS, entry.mask.strategy, entry.mask.params, file=file,
                                       field=f"{where}.mask.strategy")
                out["mask"]["params"] = mask.resolved_params()
                components.masks[(class_name, index)] = mask  # type: ignore[assignment]
            rule = _entry_quality(entry, class_rule, f"{where}.quality", file)
            out.pop("quality", None)
            if rule is not None:
                components.quality[(class_name, index)] = rule
                out["quality"] = {"filter": rule.filter.registry_name, "params": rule.filter.resolved_params(),
                                  "keep_top": rule.keep_top, "min_score": rule.min_score}
    return resolved, components


def _quality_rule(spec: QualitySpec, where: str, file: str) -> QualityRule:
    """Build the filter of a ``quality:`` block and check ``min_score`` against the filter's score range."""
    quality_filter = build_component(QUALITY_FILTERS, spec.filter, spec.params, file=file, field=f"{where}.filter")
    low, high = quality_filter.score_range  # type: ignore[attr-defined]
    if spec.min_score is not None and not low <= spec.min_score <= high:
        raise RecipeError(f"min_score {spec.min_score} is outside the {spec.filter} score range [{low}, {high}]",
                          file=file, field=f"{where}.min_score",
                          fix=f"use a threshold in [{low}, {high}], or keep_top to keep a share")
    return QualityRule(quality_filter, spec.keep_top, spec.min_score, where)  # type: ignore[arg-type]


def _entry_quality(entry: Any, class_rule: QualityRule | None, where: str, file: str) -> QualityRule | None:
    """The entry's own rule, else its class's (extra normals, ``label: normal``, have none to inherit)."""
    if entry.quality is None:
        return class_rule if entry.label == "anomaly" else None
    if entry.label == "normal":
        raise RecipeError("a quality filter scores anomalies inside their mask; this entry makes extra normals",
                          file=file, field=where, fix="remove quality: from this entry")
    return _quality_rule(entry.quality, where, file)

