"""Render README.md (the dataset card) from the template in ``cards/`` and the build manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anomset.build.state import write_atomic
from anomset.hub.metadata import configs_and_info, size_category

TEMPLATE_NAME = "dataset_card.md.j2"


def template_path() -> Path:
    """The card template shipped with anomset (``cards/`` beside the package)."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / "cards", here.parents[1] / "cards"):
        if (candidate / TEMPLATE_NAME).is_file():
            return candidate / TEMPLATE_NAME
    raise FileNotFoundError(TEMPLATE_NAME)


def render_card(resolved: dict[str, Any], manifest: dict[str, Any], repo_id: str | None = None,
                revision: str | None = None) -> str:
    """The card text: YAML metadata (configs, features, tags) and the templated body."""
    from huggingface_hub import DatasetCard, DatasetCardData

    configs, infos = configs_and_info(manifest)
    data = DatasetCardData(
        license=resolved.get("license", "other"),
        pretty_name=resolved.get("pretty_name") or resolved["name"],
        task_categories=["image-segmentation", "image-classification"],
        tags=["synthetic", "anomaly-detection", "industrial-inspection", "webdataset", "anomset"],
        size_categories=[size_category(manifest["total_samples"])],
        configs=configs,
        dataset_info=infos,
    )
    card = DatasetCard.from_template(
        data, template_path=str(template_path()),
        pretty_name=resolved.get("pretty_name") or resolved["name"],
        description=resolved.get("description", ""),
        recipe_hash=manifest["recipe_hash"], name=resolved["name"],
        repo_id=repo_id or (resolved.get("hub") or {}).get("repo") or f"<org>/{resolved['name']}",
        revision=revision, first_class=next(iter(manifest["counts"]), "all"),
        counts=manifest["counts"],
    )
    return str(card)


def write_card(out_dir: Path | str, resolved: dict[str, Any], manifest: dict[str, Any]) -> Path:
    """Write README.md into the output folder."""
    path = Path(out_dir) / "README.md"
    write_atomic(path, render_card(resolved, manifest).encode("utf-8"))
    return path
