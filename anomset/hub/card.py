"""Render README.md (the dataset card) from ``cards/dataset_card.md.j2``, the manifest and the recipe.

The card is rendered again at the end of a build, by ``anomset card`` and by ``anomset push``; hand
edits survive (anomset/hub/merge.py says how).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from anomset.concepts.spec import METHODS as CONCEPT_METHODS
from anomset.dataset.contract import CARD
from anomset.dataset.files import write_atomic
from anomset.dataset.reader import read_manifest, read_resolved
from anomset.errors import OutputError
from anomset.hub import merge
from anomset.hub.assets import write_assets
from anomset.hub.detector_results import quality_table, read_results, tables
from anomset.hub.metadata import (
    ALL_CONFIG,
    SOURCE_DATA,
    TAGS,
    TASK_CATEGORIES,
    configs_and_info,
    licenses,
    metadata_problems,
    size_category,
    source_datasets,
)
from anomset.hub.quality_card import filter_context
from anomset.sources.check import describe_counts

TEMPLATE_NAME = "dataset_card.md.j2"
_MODEL_KEYS = re.compile(r"(^|_)(model|model_id|pretrained|checkpoint)$")


def template_path() -> Path:
    """The card template: ``cards/`` of a source checkout, else ``<prefix>/share/anomset/cards`` of an install.

    A wheel puts the templates in its data files; walking up from the installed package finds that
    prefix for venv, --user, --prefix and system installs alike.
    """
    package = Path(__file__).resolve().parents[1]
    candidates = [package.parent / "cards"]
    candidates += [parent / "share" / "anomset" / "cards" for parent in package.parents[:5]]
    for folder in candidates:
        if (folder / TEMPLATE_NAME).is_file():
            return folder / TEMPLATE_NAME
    raise OutputError(f"card template {TEMPLATE_NAME} not found (looked in {candidates[0]} and "
                      f"share/anomset/cards above {package})", fix="reinstall anomset")


def card_metadata(resolved: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """The YAML metadata anomset generates (before merging with hand edits)."""
    configs, infos = configs_and_info(manifest)
    named = {k: resolved[k] for k in ("license_name", "license_link") if resolved.get(k)}
    return {
        "license": licenses(resolved),
        **named,
        "pretty_name": resolved.get("pretty_name") or resolved["name"],
        "task_categories": list(TASK_CATEGORIES),
        "tags": list(TAGS),
        "size_categories": [size_category(manifest["total_samples"])],
        "source_datasets": source_datasets(resolved),
        "configs": configs,
        "dataset_info": infos,
    }


def template_context(out: Path, resolved: dict[str, Any], manifest: dict[str, Any], repo_id: str | None,
                     revision: str | None) -> dict[str, Any]:
    """Everything the template shows, flattened into rows so the template stays a layout."""
    counts = manifest["counts"]
    rows, defects, generators = [], [], []
    for cls, splits in counts.items():
        for split, c in splits.items():
            rows.append({"class": cls, "split": split, "samples": c["samples"], "anomalies": c["anomalies"]})
            defects += [{"class": cls, "split": split, "name": k, "n": n} for k, n in c["by_defect_type"].items()]
            generators += [{"class": cls, "split": split, "name": k, "n": n} for k, n in c["by_generator"].items()]
    generation, models, clusters = [], [], set()
    for cls, plan in (resolved.get("classes") or {}).items():
        for g in plan.get("generate", []):
            mask = g.get("mask") or {}
            params = g.get("params") or {}
            generation.append({
                "class": cls, "split": g.get("split", "train"), "label": g.get("label", "anomaly"),
                "defect_type": g.get("defect_type") or g["synthesizer"], "synthesizer": g["synthesizer"],
                "count": g.get("count", 0), "cluster": g.get("cluster", ""),
                "mask": f"{mask['strategy']} `{_compact(mask.get('params') or {})}`" if mask else "own",
                "params": _compact(params)})
            if g.get("cluster"):
                clusters.add(f"{cls}/{g['cluster']}")
            concepts = resolved.get("concepts") or {}
            if g["synthesizer"] in CONCEPT_METHODS and concepts:  # their base model is the recipe's concepts.model
                models.append({"class": cls, "synthesizer": g["synthesizer"], "id": concepts["model"],
                               "revision": concepts.get("revision") or ""})
            for key, value in params.items():
                if _MODEL_KEYS.search(key) and isinstance(value, str) and value:
                    models.append({"class": cls, "synthesizer": g["synthesizer"], "id": value,
                                   "revision": params.get("revision") or params.get(f"{key}_revision") or ""})
    results = read_results(out)
    source = resolved.get("source") or {}
    license_value = licenses(resolved)
    source_license = SOURCE_DATA.get(source.get("type", ""), ("", ""))[0] or (source.get("params") or {}).get(
        "license", "")
    return {
        "pretty_name": resolved.get("pretty_name") or resolved["name"], "name": resolved["name"],
        "description": (resolved.get("description") or "").strip(), "version": manifest["version"],
        "recipe_hash": manifest["recipe_hash"], "data_hash": manifest.get("data_hash", ""),
        "versions": dict(sorted(manifest.get("versions", {}).items())),
        "repo_id": repo_id or (resolved.get("hub") or {}).get("repo") or f"<org>/{resolved['name']}",
        "revision": revision, "first_class": next(iter(counts), ALL_CONFIG), "configs": [ALL_CONFIG, *counts],
        "assets": write_assets(out, manifest),
        "source": {"type": source.get("type", ""), "fingerprint": (manifest.get("source") or {}).get("fingerprint")},
        "image_size": (resolved.get("output") or {}).get("image_size", ["?", "?"]), "seed": resolved.get("seed", 0),
        "generation": generation, "models": models, "clusters": sorted(clusters),
        "grayscale_classes": [c for c, facts in (manifest.get("classes") or {}).items() if facts.get("grayscale")],
        **filter_context(out, manifest),
        "count_rows": rows, "defect_rows": defects, "generator_rows": generators,
        "total_samples": manifest["total_samples"], "total_anomalies": sum(r["anomalies"] for r in rows),
        "fallbacks": {"redraws": 0, "redrawn": 0, "replaced_sources": 0, **(manifest.get("fallbacks") or {})},
        "benchmarks": results, "benchmark_tables": tables(results) if results else [],
        "benchmarks_stale": bool(results and results.dataset.data_hash != manifest.get("data_hash")),
        "quality": quality_table(results) if results else None,
        "license_text": license_value if isinstance(license_value, str) else " + ".join(license_value),
        "source_license": source_license if source_license != resolved.get("license") else "",
        "source_warnings": describe_counts(manifest.get("warnings") or {}),
    }


def render_card(out_dir: Path | str, resolved: dict[str, Any], manifest: dict[str, Any], *,
                repo_id: str | None = None, revision: str | None = None,
                previous: str | None = None) -> tuple[str, list[str]]:
    """The card text, merged with ``previous`` (the current README.md); also the names kept as hand-edited."""
    import jinja2
    from huggingface_hub import DatasetCard, DatasetCardData

    out = Path(out_dir)
    generated = card_metadata(resolved, manifest)
    old_data, old_body = _split_previous(previous, out / CARD)
    old_state = merge.parse_body(old_body)[0] if old_body is not None else None
    fields, edited_fields = merge.merge_fields(old_data, old_state, generated)
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, autoescape=False)  # markdown, not HTML
    text = env.from_string(template_path().read_text(encoding="utf-8")).render(
        card_data=DatasetCardData(**fields).to_yaml(), **template_context(out, resolved, manifest, repo_id, revision))
    card = DatasetCard(text)
    _, new_parts = merge.parse_body(card.text)
    parts, edited_sections = merge.merge_body(old_body, merge.stamp(new_parts))
    card.text = merge.join(merge.new_state(generated, new_parts), parts)
    # Only a hand-edited card can carry metadata that anomset did not generate (and tests validate);
    # a fresh build skips the check, which imports all of ``datasets``.
    problems = metadata_problems(card.data.to_dict()) if previous is not None else []
    if problems:
        raise OutputError(f"the card's metadata is invalid: {'; '.join(problems)}", file=str(out / CARD),
                          fix="undo the hand edit to these fields, or delete README.md to regenerate it")
    return str(card), edited_fields + edited_sections


def write_card(out_dir: Path | str, resolved: dict[str, Any] | None = None, manifest: dict[str, Any] | None = None,
               *, repo_id: str | None = None, revision: str | None = None) -> Path:
    """Render README.md (and its assets) into a built folder, keeping hand edits to an existing card."""
    return update_card(out_dir, resolved, manifest, repo_id=repo_id, revision=revision)[0]


def update_card(out_dir: Path | str, resolved: dict[str, Any] | None = None, manifest: dict[str, Any] | None = None,
                *, repo_id: str | None = None, revision: str | None = None) -> tuple[Path, list[str]]:
    """Like ``write_card``; also returns the YAML fields and sections kept as the user edited them."""
    out = Path(out_dir)
    manifest = manifest or read_manifest(out)
    resolved = resolved or read_resolved(out)
    path = out / CARD
    previous = path.read_text(encoding="utf-8") if path.is_file() else None
    text, kept = render_card(out, resolved, manifest, repo_id=repo_id, revision=revision, previous=previous)
    write_atomic(path, text.encode("utf-8"))
    return path, kept


def _split_previous(previous: str | None, path: Path) -> tuple[dict[str, Any] | None, str | None]:
    if previous is None:
        return None, None
    from huggingface_hub import DatasetCard

    try:
        old = DatasetCard(previous, ignore_metadata_errors=True)
    except (ValueError, TypeError, AttributeError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split())[:160]
        raise OutputError(f"the card's YAML metadata cannot be read ({reason})", file=str(path),
                          fix="fix it, or delete README.md to regenerate the card") from None
    return old.data.to_dict(), old.text


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), ensure_ascii=False)
