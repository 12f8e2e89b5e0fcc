"""Concept checkpoints as safetensors: the learned tensors plus, as metadata, what they were learned from.

``<class>/<method>.safetensors`` is the finished concept (what ``gaa`` / ``anogen`` read); while
learning, ``<class>/<method>.state.safetensors`` also holds the optimiser's moments and the step, written
atomically every ``save_every`` steps, so a run killed at any moment resumes from the last state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from anomset.dataset.files import write_atomic
from anomset.errors import OutputError

FORMAT = "anomset-concepts-1"


def concept_path(folder: Path, method: str) -> Path:
    return folder / f"{method}.safetensors"


def state_path(folder: Path, method: str) -> Path:
    return folder / f"{method}.state.safetensors"


@dataclass
class Checkpoint:
    """Tensors by name and the metadata (strings in the file; ``groups``/``tokens`` decoded)."""

    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]

    def sub(self, prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v for k, v in self.tensors.items() if k.startswith(prefix)}


def save(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write atomically (temp file, fsync, rename): a kill leaves the previous file whole."""
    from safetensors.torch import save

    text = {k: json.dumps(v, sort_keys=True) for k, v in {"format": FORMAT, **meta}.items()}
    data = save({k: v.detach().cpu().contiguous() for k, v in sorted(tensors.items())}, metadata=text)
    write_atomic(path, data)


def load(path: Path) -> Checkpoint:
    """Read a checkpoint; a missing or foreign file is a one-line ``OutputError``."""
    from safetensors import safe_open

    if not path.is_file():
        raise OutputError("no concept checkpoint", file=str(path), fix="run anomset learn RECIPE first")
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 (not a dict)
    except Exception as exc:
        raise OutputError(f"not a readable safetensors file: {exc}", file=str(path),
                          fix="delete it and rerun anomset learn RECIPE") from None
    try:
        meta = {key: json.loads(value) for key, value in raw.items()}
    except ValueError:
        meta = {}
    if meta.get("format") != FORMAT:
        raise OutputError("not an anomset concept checkpoint", file=str(path), fix="rerun anomset learn RECIPE")
    return Checkpoint(tensors, meta)
