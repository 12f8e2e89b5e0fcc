"""The pre-build check: decode every source file a build may read, before anything is written.

``anomset validate`` and the start of ``anomset build`` run it, so an unreadable file, a mask of
the wrong size or an all-black mask is reported before the output folder is touched. Files are
decoded exactly as the build will read them (``FileSource.inspect_item``), on a thread pool (the
decoders release the GIL). What a decode found is cached per image by the size and mtime of its
files, so a second check, or the build after a ``validate``, reads no pixel again.

The cache lives in the user's cache folder (``$ANOMSET_CACHE_DIR``, else
``$XDG_CACHE_HOME/anomset``, else ``~/.cache/anomset``), not in the output: ``validate`` has no
output folder, and a validate followed by a build should decode once. It only ever speeds a
check up; a missing or unwritable cache changes no result.

Degenerate but usable data gives warnings, not errors (``Finding``): each kind is one line per
class, in a fixed order, and counted in the build summary and the card.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anomset.errors import AnomsetError, SourceError
from anomset.sources.base import Source, SourceItem
from anomset.sources.imageio import SIXTEEN_BIT_SCALING
from anomset.sources.layout import Entry, FileSource, ItemFacts

CACHE_VERSION = 1
UPSCALE_LIMIT = 4  # an image enlarged more than this many times on a side gets a warning
PROGRESS_MIN = 64  # images to decode before a progress bar is worth showing
EMPTY_MASK_FIX = "replace the mask, or set empty_masks: skip in the source params to leave such defects out"

# kind -> (one, many): how the build summary and the card count findings
KINDS: dict[str, tuple[str, str]] = {
    "empty_mask": ("defect with an all-black mask left out", "defects with an all-black mask left out"),
    "no_test_normals": ("class without test normals", "classes without test normals"),
    "tiny_image": ("tiny image upscaled", "tiny images upscaled"),
    "16bit": ("16-bit image scaled to 8 bits", "16-bit images scaled to 8 bits"),
}


@dataclass(frozen=True)
class Finding:
    """One degenerate-data warning about one file (or, for a split, the recipe)."""

    kind: str
    class_name: str
    file: str
    text: str


@dataclass
class CheckReport:
    """What the check found: warnings, and the defects left out (``empty_masks: skip``)."""

    findings: list[Finding] = field(default_factory=list)
    skipped: set[str] = field(default_factory=set)  # item keys

    def lines(self) -> list[str]:
        """One ``warning:`` line per kind and class, the first file named, the rest counted."""
        groups: dict[tuple[str, str], list[Finding]] = {}
        for finding in self.findings:
            groups.setdefault((finding.kind, finding.class_name), []).append(finding)
        lines = []
        for (_, class_name), found in sorted(groups.items(), key=lambda g: (list(KINDS).index(g[0][0]), g[0][1])):
            first = found[0]
            more = f" (and {len(found) - 1} more like it in class {class_name!r})" if len(found) > 1 else ""
            lines.append(f"warning: {first.file}: {first.text}{more}")
        return lines

    def counts(self) -> dict[str, int]:
        """Findings per kind (only kinds that occurred), in ``KINDS`` order."""
        found = [f.kind for f in self.findings]
        return {kind: found.count(kind) for kind in KINDS if kind in found}


def describe_counts(counts: dict[str, int]) -> str:
    """``"1 class without test normals, 2 16-bit images scaled to 8 bits"`` ('' when there are none)."""
    return ", ".join(f"{n} {KINDS[k][0] if n == 1 else KINDS[k][1]}" for k, n in counts.items() if k in KINDS and n)


def check_source(source: Source, index: dict[str, list[SourceItem]], size: tuple[int, int], *,
                 progress: bool = True) -> CheckReport:
    """Decode every file of ``index`` (the recipe's classes); raise on the first bad one, in key order.

    ``size`` is the output (height, width). Sources that read no files (``toy``, ``hf``) have
    nothing to check here.
    """
    report = CheckReport()
    if not isinstance(source, FileSource):
        return report
    items = [item for name in sorted(index) for item in index[name]]
    cache = _FactsCache(source)
    facts: dict[str, ItemFacts] = {}
    pending: list[SourceItem] = []
    for item in items:
        hit = cache.get(source.entry(item))
        if hit is None:
            pending.append(item)
        else:
            facts[item.key] = hit
    errors = dict(_decode(source, pending, progress, facts))
    cache.save(source, items, facts)
    skip = source.params.empty_masks == "skip"
    problems: list[AnomsetError] = []
    for item in items:
        if item.key in errors:
            problems.append(errors[item.key])
            continue
        fact, entry = facts[item.key], source.entry(item)
        if fact.empty_mask and not skip:
            problems.append(SourceError("defect mask is all black (no defect pixel)", file=_mask_name(entry),
                                        fix=EMPTY_MASK_FIX))
        elif fact.empty_mask:
            report.skipped.add(item.key)
            report.findings.append(Finding("empty_mask", item.class_name, _mask_name(entry),
                                           "defect mask is all black; the defect is left out (empty_masks: skip)"))
        report.findings += _image_findings(item, entry, fact, size)
    if problems:
        first = problems[0]
        more = ""
        if len(problems) > 1:
            second = problems[1]
            others = f" and {len(problems) - 2} more" if len(problems) > 2 else ""
            more = f"; also {second.file}: {second.message}{others}"
        raise type(first)(first.message + more, file=first.file, field=first.field, fix=first.fix)
    return report


def split_findings(path: str, index: dict[str, list[SourceItem]],
                        test_samples: dict[str, int]) -> list[Finding]:
    """A class whose source has no test normals but whose output test split is not empty."""
    findings = []
    for name in sorted(index):
        normals = [i for i in index[name] if i.is_normal]
        if test_samples.get(name, 0) and not any(i.split == "test" for i in normals):
            findings.append(Finding(
                "no_test_normals", name, path,
                f"classes.{name}: the source has no test normals ({len(normals)} normal "
                f"image{'' if len(normals) == 1 else 's'} in all), so the test split holds only anomalies "
                "(add normal images to the source)"))
    return findings


def _image_findings(item: SourceItem, entry: Entry, fact: ItemFacts, size: tuple[int, int]) -> list[Finding]:
    found = []
    height, width = size
    if height > UPSCALE_LIMIT * fact.height or width > UPSCALE_LIMIT * fact.width:
        found.append(Finding("tiny_image", item.class_name, str(entry.image),
                             f"image is {fact.width}x{fact.height}, upscaled more than {UPSCALE_LIMIT}x to the "
                             f"output size {width}x{height}"))
    if fact.bits == 16:
        found.append(Finding("16bit", item.class_name, str(entry.image),
                             f"16-bit image, read as 8-bit by {SIXTEEN_BIT_SCALING}"))
    return found


def _mask_name(entry: Entry) -> str:
    """The mask file, or the folder of an item whose several masks are united."""
    return str(entry.masks[0] if len(entry.masks) == 1 else entry.masks[0].parent)


def _decode(source: FileSource, items: list[SourceItem], progress: bool,
            facts: dict[str, ItemFacts]) -> Iterable[tuple[str, AnomsetError]]:
    """Decode ``items`` in parallel, filling ``facts``; yields (key, error) for those that fail."""
    from tqdm.auto import tqdm

    def one(item: SourceItem) -> tuple[SourceItem, ItemFacts | None, AnomsetError | None]:
        try:
            return item, source.inspect_item(item), None
        except AnomsetError as exc:
            return item, None, exc

    workers = max(1, min(8, os.cpu_count() or 1))
    show = progress and len(items) >= PROGRESS_MIN
    with ThreadPoolExecutor(workers) as pool, tqdm(total=len(items), unit="image", desc="checking source files",
                                                   disable=None if show else True, leave=False) as bar:
        for item, fact, error in pool.map(one, items):
            bar.update(1)
            if error is not None:
                yield item.key, error
            else:
                facts[item.key] = fact  # type: ignore[assignment]


def cache_dir() -> Path:
    """Where anomset caches what it can recompute (see the module docstring)."""
    if os.environ.get("ANOMSET_CACHE_DIR"):
        return Path(os.environ["ANOMSET_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "anomset"


class _FactsCache:
    """Facts per image of one source root, valid while its files keep their size and mtime."""

    def __init__(self, source: FileSource) -> None:
        self.root = source.root
        key = f"{CACHE_VERSION}:{source.registry_name}:{os.path.realpath(source.root)}"
        self.path = cache_dir() / "file-checks" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"
        try:
            data = json.loads(self.path.read_text())
            self.entries: dict[str, Any] = data["entries"] if data.get("version") == CACHE_VERSION else {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.entries = {}

    def _signature(self, entry: Entry) -> list[list[Any]]:
        signature = []
        for path in entry.files:
            try:
                stat = path.stat()
            except OSError:
                return []  # decoding will say what is wrong with it
            signature.append([path.relative_to(self.root).as_posix(), stat.st_size, stat.st_mtime_ns])
        return signature

    def _name(self, entry: Entry) -> str:
        return entry.image.relative_to(self.root).as_posix()

    def get(self, entry: Entry) -> ItemFacts | None:
        cached = self.entries.get(self._name(entry))
        signature = self._signature(entry)
        if not signature or not isinstance(cached, dict) or cached.get("files") != signature:
            return None
        try:
            return ItemFacts(*cached["facts"])
        except TypeError:
            return None

    def save(self, source: FileSource, items: list[SourceItem], facts: dict[str, ItemFacts]) -> None:
        for item in items:
            if item.key in facts:
                entry = source.entry(item)
                fact = facts[item.key]
                self.entries[self._name(entry)] = {"files": self._signature(entry),
                                                   "facts": [fact.width, fact.height, fact.bits, fact.empty_mask]}
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"version": CACHE_VERSION, "entries": self.entries}, sort_keys=True))
            os.replace(tmp, self.path)  # concurrent checks: the last one wins, each file whole
        except OSError:
            tmp.unlink(missing_ok=True)
