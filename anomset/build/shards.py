"""Deterministic WebDataset tar shards: sorted members, fixed mtime/owner, streamed sha256."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path

from anomset.dataset.contract import IMAGE_MEMBER, JSON_MEMBER, LABEL_MEMBER, MASK_MEMBER
from anomset.dataset.files import encode_png
from anomset.sample import Sample

FIXED_MTIME = 946684800  # 2000-01-01: a constant so rebuilding gives the same bytes


def encode_sample(sample: Sample, compression: int) -> dict[str, bytes]:
    """Member suffix → bytes for one sample."""
    sample.validate()
    meta = json.dumps(sample.meta.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {
        IMAGE_MEMBER: encode_png(sample.image, compression),
        MASK_MEMBER: encode_png(sample.mask, compression),
        LABEL_MEMBER: str(sample.label).encode(),
        JSON_MEMBER: meta.encode("utf-8"),
    }


class _HashingFile(io.RawIOBase):
    """A write-only file wrapper that counts bytes and feeds sha256 as data passes."""

    def __init__(self, raw: io.BufferedWriter) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.sha256.update(data)
        self.size += len(data)
        return self.raw.write(data)


def write_tar(path: Path, members: Iterable[tuple[str, dict[str, bytes]]]) -> tuple[str, int]:
    """Write ``(key, {suffix: bytes})`` pairs (keys must come sorted) to ``path``; fsync; return (sha256, bytes)."""
    with open(path, "wb") as raw:
        hashing = _HashingFile(raw)
        with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
            for key, parts in members:
                for suffix in sorted(parts):
                    data = parts[suffix]
                    info = tarfile.TarInfo(f"{key}.{suffix}")
                    info.size, info.mtime, info.mode = len(data), FIXED_MTIME, 0o644
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    tar.addfile(info, io.BytesIO(data))
        raw.flush()
        os.fsync(raw.fileno())
    return hashing.sha256.hexdigest(), hashing.size

