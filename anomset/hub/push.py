"""Publish a built folder as a versioned Hub dataset. The only code that talks to ``HfApi``.

Sequence: check the local files against the manifest, refuse a tag the repo already has, re-render
the card for ``repo@tag``, create the repo if needed, check the tag again, commit the data (shards,
manifest, recipe, assets, benchmarks; never ``.anomset/`` or ``*.partial``) in batches and delete
published files the build no longer has, verify every remote file's size and hash against the local
ones, commit README.md on top, and tag that commit. Rate limits (429), server errors and commit races
(409/412) are retried with bounded exponential backoff. The token comes from huggingface_hub's usual
places and is never printed.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from anomset.dataset.contract import CARD, MANIFEST, PARTIAL_SUFFIX
from anomset.dataset.files import file_sha256
from anomset.dataset.reader import read_manifest
from anomset.errors import PublishError
from anomset.hub.card import write_card

REPO_TYPE = "dataset"
MAX_FILES_PER_COMMIT = 500
PATHS_INFO_BATCH = 500
# Remote files under these prefixes that the build does not have are deleted (else data/*.tar globs
# of the new version would pick up an old version's extra shards).
MANAGED_PREFIXES = ("data/", "assets/", "benchmarks/")
RETRY_STATUSES = {429, 500, 502, 503, 504}
CONFLICT_STATUSES = {409, 412}
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
_TAG = re.compile(r"^[A-Za-z0-9][\w.-]{0,127}$")
_TOKEN = re.compile(r"hf_[A-Za-z0-9]{8,}")
T = TypeVar("T")


@dataclass(frozen=True)
class UploadFile:
    path: str  # posix path inside the repo
    size: int
    sha256: str


@dataclass
class PushPlan:
    out_dir: Path
    repo_id: str
    tag: str
    private: bool
    files: list[UploadFile]
    manifest: dict[str, Any] = field(repr=False)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


@dataclass
class PushResult:
    repo_id: str
    tag: str
    data_commits: list[str]
    card_commit: str
    deleted: list[str]


def redact(text: str) -> str:
    """Hide anything shaped like a Hub token (server messages may echo request headers)."""
    return _TOKEN.sub("hf_***", text)


def default_tag(manifest: dict[str, Any]) -> str:
    return f"v{manifest['version']}"


def upload_paths(out_dir: Path) -> list[str]:
    """Files that are published: everything but README.md (committed last), hidden paths and partial files."""
    found = []
    for path in sorted(out_dir.rglob("*")):
        rel = path.relative_to(out_dir).as_posix()
        if (not path.is_file() or rel == CARD or rel.endswith(PARTIAL_SUFFIX)
                or any(part.startswith(".") for part in rel.split("/"))):
            continue
        found.append(rel)
    return found


def plan_push(out_dir: Path | str, repo_id: str, tag: str | None = None, private: bool = False) -> PushPlan:
    """Check the folder against its manifest and list what would be uploaded (nothing leaves the machine)."""
    out = Path(out_dir)
    manifest = read_manifest(out)
    tag = tag or default_tag(manifest)
    _check_ids(repo_id, tag)
    shards = {s["path"]: s for s in manifest["shards"]}
    files = []
    for rel in upload_paths(out):
        path = out / rel
        if rel.startswith("data/") and rel not in shards:
            raise PublishError(f"{rel} is not in the manifest", file=str(out),
                               fix="remove it, or rebuild with --overwrite")
        digest = file_sha256(path)
        expected = shards.get(rel)
        if expected and (expected["bytes"] != path.stat().st_size or expected["sha256"] != digest):
            raise PublishError(f"{rel} differs from manifest.json (damaged after the build)", file=str(out),
                               fix="rerun anomset build on this folder to repair it")
        files.append(UploadFile(rel, path.stat().st_size, digest))
    missing = sorted(set(shards) - {f.path for f in files})
    if missing:
        raise PublishError(f"{len(missing)} shard(s) in the manifest are missing, e.g. {missing[0]}",
                           file=str(out), fix="rerun anomset build on this folder to finish it")
    if MANIFEST not in {f.path for f in files}:
        raise PublishError("manifest.json missing", file=str(out), fix="run anomset build first")
    return PushPlan(out, repo_id, tag, private, files, manifest)


def describe(plan: PushPlan) -> Iterator[str]:
    """Human-readable lines for ``--dry-run``."""
    yield f"would publish {plan.out_dir} to https://huggingface.co/datasets/{plan.repo_id} as {plan.tag}" + (
        " (private)" if plan.private else "")
    for f in plan.files:
        yield f"  {f.size:>12,d}  {f.path}"
    yield f"  {len(plan.files)} files, {plan.total_bytes:,d} bytes in {_batches(len(plan.files))} data commit(s)"
    yield f"then: verify sizes and sha256, commit {CARD} (card for {plan.repo_id}@{plan.tag}), tag {plan.tag}"


def make_api() -> Any:
    """The real client; token from HF_TOKEN / the stored login, never passed through anomset."""
    from huggingface_hub import HfApi

    from anomset import __version__

    return HfApi(library_name="anomset", library_version=__version__)


def push(out_dir: Path | str, repo_id: str, *, tag: str | None = None, private: bool = False,
         dry_run: bool = False, api: Any = None, echo: Callable[[str], None] = print,
         sleep: Callable[[float], None] = time.sleep, max_attempts: int = 5) -> PushResult | None:
    """Publish ``out_dir`` as ``repo_id@tag``; returns None for a dry run. Call it from one process only
    (the command layer asks ``build.ranks.is_main_process``)."""
    tag = tag or default_tag(read_manifest(out_dir))
    _check_ids(repo_id, tag)
    if dry_run:
        for line in describe(plan_push(out_dir, repo_id, tag, private)):
            echo(line)
        return None
    plan_push(out_dir, repo_id, tag, private)  # a damaged folder is refused before the Hub is asked anything
    publisher = Publisher(repo_id, tag, api if api is not None else make_api(), echo, sleep, max_attempts)
    publisher.refuse_existing_tag()  # before anything changes, here or on the Hub
    # The card names repo@tag in its load snippet; render it (keeping hand edits), then hash what is sent.
    # Hashing twice costs seconds per 10 GB; uploading it, minutes.
    write_card(out_dir, repo_id=repo_id, revision=tag)
    return publisher.run(plan_push(out_dir, repo_id, tag, private))


class Publisher:
    """One push: holds the client, the plan and the retry policy."""

    def __init__(self, repo_id: str, tag: str, api: Any, echo: Callable[[str], None],
                 sleep: Callable[[float], None], max_attempts: int) -> None:
        self.repo, self.tag, self.api, self.echo, self.sleep, self.max_attempts = (
            repo_id, tag, api, echo, sleep, max_attempts)

    def run(self, plan: PushPlan) -> PushResult:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        self.plan = plan
        self.call("create repo", lambda: self.api.create_repo(self.repo, repo_type=REPO_TYPE,
                                                               private=self.plan.private, exist_ok=True))
        self.refuse_existing_tag()
        head = self.head()
        local = {f.path for f in self.plan.files}
        remote = self.call("list files", lambda: self.api.list_repo_files(self.repo, repo_type=REPO_TYPE,
                                                                          revision=head))
        stale = sorted(p for p in remote if p.startswith(MANAGED_PREFIXES) and p not in local)
        ops: list[Any] = [CommitOperationDelete(p) for p in stale]
        ops += [CommitOperationAdd(f.path, str(self.plan.out_dir / f.path)) for f in self.plan.files]
        commits = []
        for i in range(0, len(ops), MAX_FILES_PER_COMMIT):
            batch = ops[i:i + MAX_FILES_PER_COMMIT]
            n = i // MAX_FILES_PER_COMMIT + 1
            head = self.commit(batch, f"anomset {self.tag}: data ({n}/{_batches(len(ops))})", head)
            commits.append(head)
            self.echo(f"committed {len(batch)} file(s) -> {head[:12]}")
        self.verify(head)
        card = (self.plan.out_dir / CARD).read_bytes()
        card_commit = self.commit([CommitOperationAdd(CARD, card)], f"anomset {self.tag}: dataset card", head,
                                  on_race=self.verify)
        self.create_tag(card_commit)
        self.echo(f"published https://huggingface.co/datasets/{self.repo} at {self.tag} ({card_commit[:12]})")
        return PushResult(self.repo, self.tag, commits, card_commit, stale)

    # -- steps -----------------------------------------------------------------------------
    def refuse_existing_tag(self) -> None:
        from huggingface_hub.errors import RepositoryNotFoundError

        def tags() -> list[str]:
            try:
                return [t.name for t in self.api.list_repo_refs(self.repo, repo_type=REPO_TYPE).tags]
            except RepositoryNotFoundError:
                return []  # a repo yet to be created has no versions

        if self.tag in self.call("list refs", tags):
            raise self.tag_exists()

    def tag_exists(self) -> PublishError:
        return PublishError(f"{self.repo} already has version {self.tag}; published versions are immutable",
                            fix="bump `version:` in the recipe and rebuild (a changed recipe needs a new "
                                "version), or pass --tag with a new version")

    def head(self) -> str:
        info = self.call("repo info", lambda: self.api.repo_info(self.repo, repo_type=REPO_TYPE))
        return info.sha

    def commit(self, ops: list[Any], message: str, parent: str,
               on_race: Callable[[str], None] | None = None) -> str:
        """Commit ``ops`` on top of ``parent``; on a race, re-read the head (and re-check) and retry."""
        state = {"parent": parent}

        def attempt() -> str:
            info = self.api.create_commit(self.repo, ops, commit_message=message, repo_type=REPO_TYPE,
                                          parent_commit=state["parent"])
            return info.oid

        def refresh() -> None:
            state["parent"] = self.head()
            if on_race is not None:
                on_race(state["parent"])

        return self.call(message, attempt, on_conflict=refresh)

    def verify(self, revision: str) -> None:
        """Every uploaded file must exist at ``revision`` with the local size and hash (LFS sha256 or git oid)."""
        by_path = {f.path: f for f in self.plan.files}
        paths = sorted(by_path)
        seen = {}
        for i in range(0, len(paths), PATHS_INFO_BATCH):
            chunk = paths[i:i + PATHS_INFO_BATCH]
            infos = self.call("verify", lambda chunk=chunk: self.api.get_paths_info(
                self.repo, chunk, repo_type=REPO_TYPE, revision=revision))
            seen.update({info.path: info for info in infos})
        bad = []
        for path, local in by_path.items():
            info = seen.get(path)
            if info is None:
                bad.append(f"{path} missing")
            elif info.size != local.size:
                bad.append(f"{path} has {info.size} bytes, expected {local.size}")
            elif info.lfs is not None and info.lfs.sha256 != local.sha256:
                bad.append(f"{path} sha256 differs")
            elif info.lfs is None and info.blob_id != git_blob_id(self.plan.out_dir / path):
                bad.append(f"{path} git oid differs")
        if bad:
            raise PublishError(f"remote files do not match the build after upload: {'; '.join(bad[:3])}"
                               + (f" and {len(bad) - 3} more" if len(bad) > 3 else ""),
                               fix="push again; no card or tag was published for this version")
        self.echo(f"verified {len(paths)} remote file(s) at {revision[:12]}")

    def create_tag(self, revision: str) -> None:
        try:
            self.call("create tag", lambda: self.api.create_tag(
                self.repo, tag=self.tag, revision=revision, repo_type=REPO_TYPE,
                tag_message=f"anomset {self.tag} (data {self.plan.manifest['data_hash'][:12]})"),
                conflict_is_final=True)
        except _Conflict:
            raise self.tag_exists() from None

    # -- retries ---------------------------------------------------------------------------
    def call(self, what: str, fn: Callable[[], T], on_conflict: Callable[[], None] | None = None,
             conflict_is_final: bool = False) -> T:
        """Run ``fn``, retrying rate limits, server errors and (with ``on_conflict``) commit races."""
        from huggingface_hub.errors import HfHubHTTPError

        delay = 1.0
        for attempt in range(1, self.max_attempts + 1):
            try:
                return fn()
            except HfHubHTTPError as exc:
                status = getattr(exc.response, "status_code", None)
                if status in CONFLICT_STATUSES and conflict_is_final:
                    raise _Conflict() from None
                retryable = status in RETRY_STATUSES or (status in CONFLICT_STATUSES and on_conflict is not None)
                if not retryable or attempt == self.max_attempts:
                    raise self.failure(what, status, exc, attempt) from None
                wait = min(_retry_after(exc) or delay, 60.0)
                self.echo(f"{what}: HTTP {status}, retrying in {wait:.0f}s ({attempt}/{self.max_attempts - 1})")
                self.sleep(wait)
                delay *= 2
                if status in CONFLICT_STATUSES and on_conflict is not None:
                    on_conflict()
        raise AssertionError("unreachable")

    def failure(self, what: str, status: int | None, exc: Exception, attempts: int) -> PublishError:
        reason = redact(getattr(exc, "server_message", None) or str(exc).splitlines()[0])
        fix = {401: "log in with `hf auth login` or set HF_TOKEN to a token with write access",
               403: "use a token with write access to this organisation",
               404: "check the repo id and your access to it"}.get(status or 0, "try again later")
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return PublishError(f"{what} on {self.repo} failed{tries}: HTTP {status}: {reason}", fix=fix)


def _check_ids(repo_id: str, tag: str) -> None:
    if not _REPO_ID.match(repo_id or ""):
        raise PublishError(f"invalid repo id {repo_id!r}", fix="use --repo org/name")
    if not _TAG.match(tag):
        raise PublishError(f"invalid tag {tag!r}", fix="use letters, digits, '.', '_' or '-', e.g. v1.0.0")


class _Conflict(Exception):
    pass


def git_blob_id(path: Path) -> str:
    """The git object id of a file (what the Hub reports for files not stored in LFS)."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _retry_after(exc: Any) -> float | None:
    try:
        return float(exc.response.headers.get("Retry-After"))
    except (AttributeError, TypeError, ValueError):
        return None


def _batches(n: int) -> int:
    return max(1, -(-n // MAX_FILES_PER_COMMIT))

