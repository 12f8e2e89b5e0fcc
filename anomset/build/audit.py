"""The quality filters' audit: ``quality/candidates.jsonl`` (one line per candidate scored) and the
manifest's ``quality`` summary (candidates, kept, kept share and score spread per class and entry)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from anomset.build.select import audit_rows
from anomset.build.state import OutputState
from anomset.dataset.contract import CANDIDATES
from anomset.dataset.files import write_atomic


def write_audit(state: OutputState, records: list[dict[str, Any]], resolved: dict[str, Any]) -> dict[str, Any] | None:
    """Write ``quality/candidates.jsonl`` from the shards' records; the manifest's summary (None: no filter)."""
    rows = list(audit_rows(records))
    target = state.out / CANDIDATES
    if not rows:
        target.unlink(missing_ok=True)
        return None
    text = "".join(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n" for row in rows)
    write_atomic(target, text.encode("utf-8"))
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["class"], row["entry"]), []).append(row)
    entries = []
    for (class_name, entry), members in sorted(groups.items(), key=lambda kv: (kv[0][0], _index(kv[0][1]))):
        generate = resolved["classes"][class_name]["generate"][_index(entry)]
        scores = np.array([r["score"] for r in members], np.float64)
        kept = np.array([r["kept"] for r in members], bool)
        entries.append({
            "class": class_name, "entry": entry, "generator": generate["synthesizer"],
            "filter": members[0]["filter"], "rule": members[0]["rule"],
            "threshold": generate["quality"].get(members[0]["rule"]),
            "candidates": len(members), "kept": int(kept.sum()), "kept_share": float(kept.mean()),
            "score": _spread(scores), "kept_score": _spread(scores[kept]),
        })
    return {"candidates_file": CANDIDATES, "entries": entries}


def _index(entry: str) -> int:
    return int(entry[len("generate["):-1])


def _spread(scores: np.ndarray) -> dict[str, float]:
    finite = scores[np.isfinite(scores)]
    if not len(finite):
        return {}
    return {"min": float(finite.min()), "median": float(np.median(finite)), "mean": float(finite.mean()),
            "max": float(finite.max())}
