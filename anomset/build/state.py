"""The output folder's build state: ownership, data hash and inputs, per-shard done-markers (resume).

Everything lives in ``<out>/.anomset`` (never published): ``state.json`` (which data and inputs own
the folder), ``source_files.json`` (every source file and its size, to say what changed), ``done/``
(one marker per committed shard), and while a build runs its ``lock`` and the ``ranks`` rendezvous
folder, both removed when it ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from anomset.dataset.contract import OWNED, PARTIAL_SUFFIX, STATE_DIR
from anomset.dataset.files import file_sha256, write_json_atomic
from anomset.errors import OutputError
from anomset.recipe.identity import changed_fields

STATE_FILE = "state.json"
SOURCE_FILES = "source_files.json"
LOCK = "lock"
RANKS_DIR = "ranks"  # rendezvous of one machine's ranks (``ranks.FileRanks``)
LISTED = 3  # changed source files named per kind in a refusal


class OutputState:
    """Reads and updates ``<out>/.anomset``: which recipe owns the folder and which shards are done."""

    def __init__(self, out_dir: Path | str) -> None:
        self.out = Path(out_dir)
        self.dir = self.out / STATE_DIR

    # -- ownership -------------------------------------------------------------------------
    @property
    def ranks_dir(self) -> Path:
        return self.dir / RANKS_DIR

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the output folder's lock (``.anomset/lock``) for a whole build, or refuse at once.

        The lock file is removed on the way out, success or not; ``tidy`` then removes the state
        folder (and the output folder) if the build left nothing else in them.
        """
        if self.out.exists() and not self.out.is_dir():
            raise OutputError("output path exists and is not a folder", file=str(self.out), fix="choose another --out")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the output folder: {exc.strerror}", file=str(self.out),
                              fix="choose a writable --out") from None
        path = self.dir / LOCK
        while True:
            handle = open(path, "a+")  # noqa: SIM115 - held open for the whole build
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                raise OutputError("another anomset build is writing into this folder", file=str(self.out),
                                  fix="wait for it to finish, or build into another --out") from None
            try:
                if os.path.samestat(os.fstat(handle.fileno()), os.stat(path)):
                    break
            except FileNotFoundError:
                pass
            handle.close()  # the holder removed the file we locked as it finished: lock the new one
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # while still held, so a waiting process retries on a fresh file
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()
            with contextlib.suppress(OSError):
                self.dir.rmdir()  # a build that wrote no state leaves no state folder

    def tidy(self, remove_out: bool) -> None:
        """Remove the empty folders a build made and left nothing in (any rank may call it)."""
        for folder in (self.ranks_dir, self.dir, *((self.out,) if remove_out else ())):
            with contextlib.suppress(OSError):
                folder.rmdir()

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

    def committed(self) -> int:
        """Shards committed so far (done-markers), or -1 for a finished build (it has a manifest)."""
        if (self.out / "manifest.json").exists():
            return -1
        done = self.dir / "done"
        return sum(1 for _ in done.rglob("*.json")) if done.is_dir() else 0

    def check(self, data_hash: str, data: dict[str, Any], inputs: dict[str, str], overwrite: bool,
              files: dict[str, int] | None = None) -> str:
        """Decide, without writing, what to do: 'new', 'resume', 'restart' or 'overwrite'. Raises if refused.

        ``data`` is the recipe's data spec (its hash ``data_hash``): a recipe that differs only in
        metadata resumes, one that differs in data is refused naming the field. ``inputs`` are the
        fingerprints of the source and location folders: data that moved resumes, other data does not
        (``files``, the source's files and sizes, say which changed). A build that committed no
        shard pins nothing: it is restarted ('restart'), whatever recipe or data it began with.
        """
        if self.out.exists() and not self.out.is_dir():
            raise OutputError("output path exists and is not a folder", file=str(self.out),
                              fix="choose another --out")
        owner = self.owner()
        if owner is None and (not self.out.exists() or all(p.name == STATE_DIR for p in self.out.iterdir())):
            return "new"  # empty, or only a running build's lock and rendezvous
        if owner is None:
            raise OutputError("folder is not empty and was not made by anomset; refusing to write into it",
                              file=str(self.out), fix="choose an empty or new --out folder")
        built_from = _recorded_inputs(owner, inputs)
        if owner.get("data_hash") == data_hash and built_from == inputs:
            return "resume"
        committed = self.committed()
        if committed == 0:
            return "restart"
        if overwrite:
            return "overwrite"
        if committed > 0:
            safety = (f"--overwrite is safe: it deletes only the {committed} shard{'s' if committed > 1 else ''} "
                      "of an unfinished build and rebuilds from the current data")
        else:
            safety = ("--overwrite deletes a finished build (its shards, manifest.json and card): use a new --out "
                      "to keep it")
        if owner.get("data_hash") != data_hash:
            raise OutputError(f"folder holds a build of another recipe ({_data_change(owner, data)})",
                              file=str(self.out), fix=f"use a new --out, or pass --overwrite; {safety}")
        field = next(k for k in sorted({*built_from, *inputs}) if built_from.get(k) != inputs.get(k))
        changes = self._changes(files) if field == "source" else ""
        what = (f"; the source files changed since it started: {changes}" if changes
                else f" ({built_from.get(field)}, now {inputs.get(field)})")
        restore = "restore those files to resume" if changes else "point it at the data the build started from"
        raise OutputError(f"folder holds a build of this recipe from other {field} data{what}", file=str(self.out),
                          fix=f"{restore}, use a new --out, or pass --overwrite; {safety}")

    def source_files(self) -> dict[str, int] | None:
        """The source files (relative path -> size) the build in this folder started from, if recorded."""
        try:
            files = json.loads((self.dir / SOURCE_FILES).read_text())
        except (OSError, ValueError):
            return None
        return files if isinstance(files, dict) else None

    def _changes(self, files: dict[str, int] | None) -> str:
        """``added a.png; removed c.png, d.png; resized e.png (+2 more)`` between the recorded and ``files``."""
        before = self.source_files()
        if before is None or files is None:
            return ""
        kinds = {"added": sorted(set(files) - set(before)), "removed": sorted(set(before) - set(files)),
                 "resized": sorted(k for k in set(files) & set(before) if files[k] != before[k])}
        parts = []
        for kind, names in kinds.items():
            if names:
                more = f" (+{len(names) - LISTED} more)" if len(names) > LISTED else ""
                parts.append(f"{kind} {', '.join(names[:LISTED])}{more}")
        return "; ".join(parts)

    def initialize(self, data_hash: str, data: dict[str, Any], inputs: dict[str, str], action: str,
                   files: dict[str, int] | None = None) -> None:
        """Claim the folder for this data and its inputs (after ``check``); on 'overwrite' and 'restart'
        remove the old build first."""
        if action in ("overwrite", "restart"):
            for name in OWNED:
                target = self.out / name
                if name == STATE_DIR:
                    self._clear_state()
                elif target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        if action != "resume":
            self.out.mkdir(parents=True, exist_ok=True)
            if files is not None:
                write_json_atomic(self.dir / SOURCE_FILES, files)
            record = {"data_hash": data_hash, "data": data, "source": inputs.get("source", ""),
                      "locations": {k: v for k, v in inputs.items() if k != "source"}}
            write_json_atomic(self.dir / STATE_FILE, record)

    def _clear_state(self) -> None:
        """Remove the old build's state, not the running build's lock and rendezvous."""
        if not self.dir.is_dir():
            return
        for target in self.dir.iterdir():
            if target.name in (LOCK, RANKS_DIR):
                continue
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()

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
