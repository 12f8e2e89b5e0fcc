"""Names that make a built folder an anomset dataset: files, shard members, the state folder."""

from __future__ import annotations

MANIFEST = "manifest.json"
CARD = "README.md"
RECIPE_FILE = "recipe.yaml"
ASSETS_DIR = "assets"
RESULTS_DIR = "benchmarks"
DATA_DIR = "data"
QUALITY_DIR = "quality"
CANDIDATES = f"{QUALITY_DIR}/candidates.jsonl"  # every candidate a quality filter scored: the filter's audit
STATE_DIR = ".anomset"  # resume state; never published
PARTIAL_SUFFIX = ".partial"  # a file still being written (shards, atomic writes)
# Everything anomset writes at the top of an output folder; --overwrite removes only these.
OWNED = (DATA_DIR, MANIFEST, RECIPE_FILE, CARD, ASSETS_DIR, RESULTS_DIR, QUALITY_DIR, STATE_DIR)

# Members of each sample in a shard: datasets names the column after everything past the first dot.
IMAGE_MEMBER, MASK_MEMBER, LABEL_MEMBER, JSON_MEMBER = "image.png", "mask.png", "cls", "json"


def shard_relpath(class_name: str, split: str, index: int) -> str:
    """Where a shard lives inside the folder: ``data/<class>/<split>-NNNNNN.tar``."""
    return f"{DATA_DIR}/{class_name}/{split}-{index:06d}.tar"
