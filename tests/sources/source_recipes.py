"""Tiny recipes over the on-disk trees of ``source_trees.py``."""

from __future__ import annotations

from pathlib import Path

import yaml


def file_recipe(source_type: str, root: Path, classes: list[str], generate: int = 2, **params) -> dict:
    """A 64 px recipe copying every normal and real defect of ``classes`` and adding CutPaste samples."""
    plan = {"normals": {"train": "all", "test": "all"}, "real_defects": {"train": 0, "test": "all"},
            "generate": [{"synthesizer": "cutpaste", "count": generate}] if generate else []}
    return {
        "name": f"tiny-{source_type.replace('_', '-')}",
        "source": {"type": source_type, "params": {"root": str(root), **params}},
        "output": {"image_size": 64, "shard_size": 50},
        "classes": {name: plan for name in classes},
    }


def write_recipe(path: Path, recipe: dict) -> Path:
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path
