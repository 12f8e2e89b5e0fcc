"""The classes ``anomset cluster`` / ``learn`` work on, with their shown defects, read as a build reads them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from anomset.concepts.identity import cluster_hash
from anomset.concepts.spec import METHODS, ConceptsSpec
from anomset.context import ShownDefect
from anomset.errors import RecipeError
from anomset.recipe.load import LoadedRecipe


@dataclass
class ConceptClass:
    """One class to learn concepts for: its shown defects (at the output size) and where its files go."""

    name: str
    defects: list[ShownDefect]
    folder: Path
    cluster_hash: str
    methods: list[str]  # the concept synthesizers its generate entries use


def concepts_spec(loaded: LoadedRecipe) -> ConceptsSpec:
    """The recipe's ``concepts:`` section, or one line saying it is needed."""
    if loaded.recipe.concepts is None:
        raise RecipeError("this recipe has no concepts: section", file=loaded.path, field="concepts",
                          fix="add concepts: {dir: FOLDER, model: PIPELINE} (see recipes/toy_fewshot.yaml)")
    return loaded.recipe.concepts


def methods_of(loaded: LoadedRecipe, class_name: str) -> list[str]:
    """The concept synthesizers (gaa, anogen) a class's generate entries use, in ``METHODS`` order."""
    used = {entry.synthesizer for entry in loaded.recipe.classes[class_name].generate}
    return [m for m in METHODS if m in used]


def concept_classes(loaded: LoadedRecipe, only: list[str] | None = None) -> list[ConceptClass]:
    """The classes whose entries use gaa or anogen (or ``only``), with their shown defects.

    A class without shown defects is one ``RecipeError`` naming its ``shown_defects``.
    """
    from anomset.build.launch import open_source
    from anomset.build.render import ClassPool

    spec = concepts_spec(loaded)
    names = only or [name for name in loaded.recipe.classes if methods_of(loaded, name)]
    for name in names:
        if name not in loaded.recipe.classes:
            raise RecipeError(f"no class {name!r} in the recipe; it has {', '.join(loaded.recipe.classes)}",
                              file=loaded.path, field="classes")
    if not names:
        raise RecipeError("no class uses gaa or anogen", file=loaded.path, field="classes",
                          fix="add a generate entry with synthesizer: gaa (or anogen), or name a class with --class")
    source, index = open_source(loaded)
    size = tuple(loaded.recipe.output.image_size)
    out = []
    for name in names:
        defects = ClassPool(source, name, index[name], size).shown_defects()
        if not defects:
            raise RecipeError(f"class {name!r} shows no real defects to learn concepts from", file=loaded.path,
                              field=f"classes.{name}.shown_defects",
                              fix="set shown_defects (e.g. 1/3) on a source whose class has real defects")
        digest = cluster_hash(loaded.data["source"], size, name, [d.key for d in defects], spec)
        out.append(ConceptClass(name, defects, Path(spec.dir) / name, digest, methods_of(loaded, name) or ["gaa"]))
    return out
