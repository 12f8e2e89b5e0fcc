"""Keep hand edits when a card is rendered again.

Body: generated parts sit between ``<!-- anomset:begin NAME sha=H -->`` and ``<!-- anomset:end NAME -->``,
``H`` being the hash of what anomset generated there. On a new render:

- text outside the markers is kept where it is;
- a section whose text still hashes to ``H`` is replaced by the new text; one that differs was edited
  by hand and is kept (its marker gets the new ``H``, so it stays "edited" until it matches again);
- an emptied section is regenerated; a section deleted with its markers stays deleted;
- a section new to the template is inserted after the section that precedes it in the template.

YAML: fields in ``OWNED_KEYS`` always take the new value. Other fields anomset generates take the new
value unless the old one differs from what anomset wrote last time (hashes kept in the
``<!-- anomset:state {...} -->`` comment); fields the user added or deleted stay so.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from anomset.hub.metadata import OWNED_KEYS

_SECTION = re.compile(r"<!-- anomset:begin (?P<name>[\w-]+)(?: sha=(?P<sha>[0-9a-f]*))? -->\n?"
                      r"(?P<body>.*?)<!-- anomset:end (?P=name) -->", re.S)
_STATE = re.compile(r"<!-- anomset:state (?P<json>\{.*?\}) -->\n?")


def digest(value: Any) -> str:
    """A short hash of text (whitespace-normalised) or of any JSON value."""
    if isinstance(value, str):
        text = "\n".join(line.rstrip() for line in value.strip("\n").splitlines()).strip()
    else:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class Section:
    name: str
    sha: str | None
    body: str

    def render(self) -> str:
        body = self.body if self.body.endswith("\n") or not self.body else self.body + "\n"
        return f"<!-- anomset:begin {self.name} sha={self.sha or ''} -->\n{body}<!-- anomset:end {self.name} -->"


def parse_body(text: str) -> tuple[dict[str, Any] | None, list[str | Section]]:
    """The state comment (or None) and the body as a list of plain text and sections."""
    state = None
    match = _STATE.search(text)
    if match:
        try:
            state = json.loads(match["json"])
        except ValueError:
            state = None
        text = text[:match.start()] + text[match.end():]
    parts: list[str | Section] = []
    pos = 0
    for m in _SECTION.finditer(text):
        parts.append(text[pos:m.start()])
        parts.append(Section(m["name"], m["sha"], m["body"]))
        pos = m.end()
    parts.append(text[pos:])
    return state, parts


def stamp(parts: list[str | Section]) -> list[str | Section]:
    """Set every section's sha to the hash of its current text (a freshly generated body)."""
    for part in parts:
        if isinstance(part, Section):
            part.sha = digest(part.body)
    return parts


def join(state: dict[str, Any], parts: list[str | Section]) -> str:
    comment = f"<!-- anomset:state {json.dumps(state, sort_keys=True, separators=(',', ':'))} -->\n"
    return comment + "".join(p if isinstance(p, str) else p.render() for p in parts)


def merge_body(old: str | None, new_parts: list[str | Section]) -> tuple[list[str | Section], list[str]]:
    """The merged body parts and the names of sections kept as the user edited them."""
    if old is None:
        return new_parts, []
    state, old_parts = parse_body(old)
    new_sections = {p.name: p for p in new_parts if isinstance(p, Section)}
    if state is None and not any(isinstance(p, Section) for p in old_parts):
        # A hand-written card with no anomset markers: keep all of it above the generated sections.
        return [old.rstrip("\n") + "\n\n", *new_parts], []
    known = set((state or {}).get("sections", []))
    out: list[str | Section] = []
    edited = []
    for part in old_parts:
        if isinstance(part, str):
            out.append(part)
            continue
        fresh = new_sections.get(part.name)
        user_changed = part.body.strip() and digest(part.body) != part.sha
        if user_changed:
            edited.append(part.name)
            out.append(Section(part.name, fresh.sha if fresh else part.sha, part.body))
        elif fresh is not None:
            out.append(Section(fresh.name, fresh.sha, fresh.body))
        elif out and isinstance(out[-1], str):
            out[-1] = out[-1].rstrip("\n") + "\n"  # a section dropped from the template: drop its blank line too
    present = {p.name for p in out if isinstance(p, Section)}
    order = [p.name for p in new_parts if isinstance(p, Section)]
    for i, name in enumerate(order):
        if name in present or name in known:
            continue
        before = next((j for j in range(len(out) - 1, -1, -1) if isinstance(out[j], Section)
                       and out[j].name in order[:i]), None)  # type: ignore[union-attr]
        at = 0 if before is None else before + 1
        out[at:at] = ["\n\n", new_sections[name]] if before is not None else [new_sections[name], "\n\n"]
        present.add(name)
    return out, edited


def merge_fields(old: dict[str, Any] | None, old_state: dict[str, Any] | None,
                 new: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Merged YAML metadata and the names of fields kept as the user edited them."""
    if old is None:
        return dict(new), []
    recorded: dict[str, str] = (old_state or {}).get("fields", {})
    merged: dict[str, Any] = {}
    edited = []
    for key, value in new.items():
        if key in OWNED_KEYS:
            merged[key] = value
        elif key in old:
            unchanged = digest(old[key]) == recorded[key] if key in recorded else old[key] == value
            if unchanged:
                merged[key] = value
            else:
                merged[key] = old[key]
                if old[key] != value:
                    edited.append(key)
        elif key not in recorded:
            merged[key] = value  # new field, or a card written before anomset recorded its fields
        else:
            edited.append(key)  # the user deleted it: respect that
    for key, value in old.items():
        if key not in merged and key not in new:
            merged[key] = value
    return merged, edited


def new_state(fields: dict[str, Any], parts: list[str | Section]) -> dict[str, Any]:
    """What anomset generated this time: hashes of its YAML fields, and its section names."""
    return {"fields": {k: digest(v) for k, v in fields.items() if k not in OWNED_KEYS},
            "sections": [p.name for p in parts if isinstance(p, Section)]}
