"""The output folder's build state: ownership, data hash and inputs, per-shard done-markers (resume)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from anomset.dataset.contract import OWNED, PARTIAL_SUFFIX, STATE_DIR
from anomset.dataset.files import file_sha256, write_json_atomic
from anomset.errors import OutputError
from anomset.recipe.identity import changed_fields

STATE_FILE = "state.json"


class OutputState:
    """Reads and updates ``<out>/.anomset``: which recipe owns the folder and which shards are done."""

    def __init__(self, out_dir: Path | str) -> None:
        self.out = Path(out_dir)
        self.dir = self.out / STATE_DIR

    # -- ownership -------------------------------------------------------------------------
    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold this machine's lock on the output folder for a whole build, or refuse at once.

        The lock file lives in the temp folder, keyed by the folder's real path, so a refused or
        failed build leaves no trace in the output folder.
        """
        key = hashlib.sha256(os.path.realpath(self.out).encode("utf-8")).hexdigest()[:24]
        path = Path(tempfile.gettempdir()) / f"anomset-{key}.lock"
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OutputError("another anomset build is writing into this folder", file=str(self.out),
                                  fix="wait for it to finish, or build into another --out") from None
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def owner(self) -> dict[str, Any] | None:
        """The state of the build in this folder: its ``data_hash``, data spec and input fingerprints.

        States written before anomset split data from metadata hold a ``recipe_hash`` instead.
        """
        try:
            owner = json.loads((self.dir / STATE_FILE).read_text())
            if not isinstance(owner, dict) or not isinstance(owner.get("data_hash", owner.get("recipe_hash")), str):
                raise ValueError
            return owner
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, OSError):
            raise OutputError("build state is corrupt", file=str(self.dir / STATE_FILE),
                              fix="rebuild into a new folder or pass --overwrite") from None

    def check(self, data_hash: str, data: dict[str, Any], inputs: dict[str, str], overwrite: bool) -> str:
        """Decide, without writing, what to do: 'new', 'resume' or 'overwrite'. Raises if refused.

        ``data`` is the recipe's data spec (its hash ``data_hash``): a recipe that differs only in
        metadata resumes, one that differs in data is refused naming the field. ``inputs`` are the
        fingerprints of the source and location folders: data that moved resumes, other data does not.
        """
        if self.out.exists() and not self.out.is_dir():
            raise OutputError("output path exists and is not a folder", file=str(self.out),
                              fix="choose another --out")
        if not self.out.exists() or not any(self.out.iterdir()):
            return "new"
        owner = self.owner()
        if owner is None:
            raise OutputError("folder is not empty and was not made by anomset; refusing to write into it",
                              file=str(self.out), fix="choose an empty or new --out folder")
        built_from = _recorded_inputs(owner, inputs)
        if owner.get("data_hash") == data_hash and built_from == inputs:
            return "resume"
        if overwrite:
            return "overwrite"
        if owner.get("data_hash") != data_hash:
            raise OutputError(f"folder holds a build of another recipe ({_data_change(owner, data)})",
                              file=str(self.out), fix="use a new --out, or pass --overwrite to delete that build")
        field = next(k for k in sorted({*built_from, *inputs}) if built_from.get(k) != inputs.get(k))
        raise OutputError(f"folder holds a build of this recipe from other {field} data ({built_from.get(field)}, "
                          f"now {inputs.get(field)})", file=str(self.out),
                          fix="point it at the data the build started from, use a new --out, "
                              "or pass --overwrite to delete that build")

    def initialize(self, data_hash: str, data: dict[str, Any], inputs: dict[str, str], action: str) -> None:
        """Claim the folder for this data and its inputs (after ``check``); on 'overwrite' remove the old build."""
        if action == "overwrite":
            for name in OWNED:
                target = self.out / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        if action in ("new", "overwrite"):
            self.out.mkdir(parents=True, exist_ok=True)
            record = {"data_hash": data_hash, "data": data, "source": inputs.get("source", ""),
                      "locations": {k: v for k, v in inputs.items() if k != "source"}}
            write_json_atomic(self.dir / STATE_FILE, record)

    # -- shards ----------------------------------------------------------------------------
    def marker_path(self, relpath: str) -> Path:
        return self.dir / "done" / (relpath + ".json")

    def read_marker(self, relpath: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.marker_path(relpath).read_text())
        except (FileNotFoundError, ValueError):
            return None

    def mark_done(self, relpath: str, record: dict[str, Any]) -> None:
        write_json_atomic(self.marker_path(relpath), record)

    def is_done(self, relpath: str) -> bool:
        """Cheap check: a marker exists and the shard has the recorded size."""
        marker = self.read_marker(relpath)
        shard = self.out / relpath
        return marker is not None and shard.is_file() and shard.stat().st_size == marker["bytes"]

    def verify_and_clean(self, relpaths: list[str]) -> int:
        """Drop markers whose shard is missing or differs from its sha256, and leftover partial files.

        Returns the number of shards that are verified done. Run by one rank before work is split.
        """
        done = 0
        for relpath in relpaths:
            marker = self.read_marker(relpath)
            shard = self.out / relpath
            if marker is not None and shard.is_file() and file_sha256(shard) == marker["sha256"]:
                done += 1
                continue
            self.marker_path(relpath).unlink(missing_ok=True)
            shard.unlink(missing_ok=True)
        for partial in self.out.rglob("*" + PARTIAL_SUFFIX):
            partial.unlink()
        return done


def _recorded_inputs(owner: dict[str, Any], inputs: dict[str, str]) -> dict[str, str]:
    """The input fingerprints a state recorded; states from before they were recorded match any."""
    if "source" not in owner:
        return inputs
    return {"source": owner["source"], **owner.get("locations", {})}


def _data_change(owner: dict[str, Any], data: dict[str, Any]) -> str:
    """What differs, for the refusal message: the changed data fields, or the old hash."""
    if "data_hash" not in owner:
        return f"made before anomset split data from metadata, recipe hash {owner['recipe_hash'][:12]}"
    if not isinstance(owner.get("data"), dict):
        return f"data hash {owner['data_hash'][:12]}"
    changed = changed_fields(owner["data"], data)
    shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    return f"its data differs in {shown}" if changed else f"data hash {owner['data_hash'][:12]}"
