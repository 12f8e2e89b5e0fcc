"""A local model folder's content fingerprint: what a moved folder keeps and retrained weights change.

``model:<sha>`` over every ``.json`` config of the folder (config, preprocessor, pipeline index,
scheduler) and the content of its weights (``weights_sha256``, as the loaders record). Weights of
gigabytes take seconds to hash, so the answer is cached while every file keeps its size and mtime:
in the process, and in the user's cache folder (``anomset.sources.check.cache_dir``) across runs. The
cache only ever saves time; a missing or unwritable one changes no result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from anomset.diffusion.loading import WEIGHT_SUFFIXES, weights_sha256

CONFIG_SUFFIX = ".json"
CACHE_VERSION = 1
_SEEN: dict[tuple[str, str], str] = {}  # (real folder, signature digest) -> fingerprint


def model_fingerprint(folder: str | Path) -> str:
    """``model:<16 hex>`` of the model folder ``folder`` (which must exist; see the module docstring)."""
    from anomset.dataset.files import write_json_atomic
    from anomset.sources.check import cache_dir

    root = Path(folder).expanduser().resolve()
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith((CONFIG_SUFFIX, *WEIGHT_SUFFIXES)))
    stats = [[p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    signature = hashlib.sha256(json.dumps(stats).encode()).hexdigest()
    key = (str(root), signature)
    if key in _SEEN:
        return _SEEN[key]
    cached = cache_dir() / "model-fingerprints" / f"{hashlib.sha256(str(root).encode()).hexdigest()[:24]}.json"
    try:
        data = json.loads(cached.read_text())
        if data.get("version") == CACHE_VERSION and data.get("signature") == signature:
            _SEEN[key] = str(data["fingerprint"])
            return _SEEN[key]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    digest = hashlib.sha256()
    for path in files:
        if path.name.endswith(CONFIG_SUFFIX):
            digest.update(f"{path.relative_to(root).as_posix()}\n".encode())
            digest.update(path.read_bytes())
    digest.update(weights_sha256(root).encode())
    _SEEN[key] = f"model:{digest.hexdigest()[:16]}"
    with contextlib.suppress(OSError):  # the cache only saves time
        write_json_atomic(cached, {"version": CACHE_VERSION, "signature": signature, "fingerprint": _SEEN[key]})
    return _SEEN[key]
