"""A fake ``HfApi`` that records calls and enforces the Hub rules anomset's push relies on.

Rules: repos must exist before commits (404); ``parent_commit`` must be the branch head (412);
tags are unique (409) and must point at an existing commit (404); a commit holds at most
``max_files_per_commit`` operations and a folder at most ``max_entries_per_folder`` entries (400);
files above ``max_file_size`` are refused (413); paths must be relative, without ``..`` or ``.git``;
empty commits are refused. New repos start with a ``.gitattributes`` commit, like the Hub's.
Tests inject HTTP failures (``fail``), other writers (``on_commit``) and server-side damage (``corrupt``).
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import SimpleNamespace
from typing import Any

import httpx2
from huggingface_hub import CommitOperationAdd, CommitOperationDelete
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError
from huggingface_hub.hf_api import CommitInfo, GitRefInfo, GitRefs, RepoFile

LFS_SUFFIXES = (".tar", ".png")


def http_error(status: int, message: str, cls: type[HfHubHTTPError] = HfHubHTTPError,
               headers: dict[str, str] | None = None) -> HfHubHTTPError:
    request = httpx2.Request("POST", "https://huggingface.co/api/fake")
    response = httpx2.Response(status, request=request, headers=headers or {})
    return cls(f"{status} {message}", response=response, server_message=message)


@dataclass
class FakeRepo:
    private: bool
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    parents: dict[str, str | None] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    head: str = ""
    tags: dict[str, str] = field(default_factory=dict)


class FakeHfApi:
    def __init__(self, *, max_files_per_commit: int = 10_000, max_entries_per_folder: int = 10_000,
                 max_file_size: int = 50 * 2**30) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures: dict[str, list[tuple[int, dict[str, str], str]]] = defaultdict(list)
        self.on_commit: Callable[[FakeHfApi, str], None] | None = None  # runs before each create_commit
        self.corrupt: dict[str, bytes] = {}  # path -> bytes the server "stores" instead
        self.max_files_per_commit = max_files_per_commit
        self.max_entries_per_folder = max_entries_per_folder
        self.max_file_size = max_file_size
        self._n = 0

    # -- test controls --------------------------------------------------------------------
    def fail(self, method: str, *statuses: int, retry_after: str | None = None, message: str = "") -> None:
        headers = {"Retry-After": retry_after} if retry_after else {}
        self.failures[method] += [(s, headers, message) for s in statuses]

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def files(self, repo_id: str, revision: str | None = None) -> dict[str, bytes]:
        repo = self.repos[repo_id]
        return repo.commits[self._resolve(repo, revision)]

    # -- helpers ---------------------------------------------------------------------------
    def _record(self, name: str, **kwargs: Any) -> None:
        self.calls.append((name, kwargs))
        if self.failures[name]:
            status, headers, message = self.failures[name].pop(0)
            raise http_error(status, message or f"injected failure of {name}", headers=headers)

    def _repo(self, repo_id: str, repo_type: str | None) -> FakeRepo:
        if repo_type != "dataset" or repo_id not in self.repos:
            raise http_error(404, f"Repository Not Found for {repo_type}s/{repo_id}", RepositoryNotFoundError)
        return self.repos[repo_id]

    def _resolve(self, repo: FakeRepo, revision: str | None) -> str:
        if revision in (None, "main"):
            return repo.head
        if revision in repo.tags:
            return repo.tags[revision]
        if revision in repo.commits:
            return revision
        raise http_error(404, f"Invalid rev id: {revision}", RevisionNotFoundError)

    def _new_commit(self, repo: FakeRepo, files: dict[str, bytes], message: str) -> str:
        self._n += 1
        oid = hashlib.sha1(f"commit {self._n}".encode()).hexdigest()
        repo.commits[oid] = files
        repo.parents[oid] = repo.head or None
        repo.messages[oid] = message
        repo.head = oid
        return oid

    # -- the HfApi surface anomset uses ------------------------------------------------------
    def create_repo(self, repo_id: str, *, repo_type: str | None = None, private: bool | None = None,
                    exist_ok: bool = False, token: Any = None, **_: Any) -> str:
        self._record("create_repo", repo_id=repo_id, repo_type=repo_type, private=private, exist_ok=exist_ok)
        if repo_id in self.repos:
            if not exist_ok:
                raise http_error(409, "You already created this dataset repo")
        else:
            repo = FakeRepo(private=bool(private))
            self.repos[repo_id] = repo
            self._new_commit(repo, {".gitattributes": b"*.tar filter=lfs diff=lfs merge=lfs -text\n"},
                             "initial commit")
        return f"https://huggingface.co/datasets/{repo_id}"

    def repo_info(self, repo_id: str, *, repo_type: str | None = None, revision: str | None = None,
                  **_: Any) -> Any:
        self._record("repo_info", repo_id=repo_id, revision=revision)
        repo = self._repo(repo_id, repo_type)
        return SimpleNamespace(id=repo_id, sha=self._resolve(repo, revision), private=repo.private)

    def list_repo_refs(self, repo_id: str, *, repo_type: str | None = None, **_: Any) -> GitRefs:
        self._record("list_repo_refs", repo_id=repo_id)
        repo = self._repo(repo_id, repo_type)
        return GitRefs(branches=[GitRefInfo(name="main", ref="refs/heads/main", target_commit=repo.head)],
                       converts=[], tags=[GitRefInfo(name=t, ref=f"refs/tags/{t}", target_commit=o)
                                          for t, o in repo.tags.items()])

    def list_repo_files(self, repo_id: str, *, revision: str | None = None, repo_type: str | None = None,
                        **_: Any) -> list[str]:
        self._record("list_repo_files", repo_id=repo_id, revision=revision)
        repo = self._repo(repo_id, repo_type)
        return sorted(repo.commits[self._resolve(repo, revision)])

    def create_commit(self, repo_id: str, operations: Any, *, commit_message: str, repo_type: str | None = None,
                      revision: str | None = None, parent_commit: str | None = None, **_: Any) -> CommitInfo:
        operations = list(operations)
        self._record("create_commit", repo_id=repo_id, message=commit_message, parent_commit=parent_commit,
                     paths=[op.path_in_repo for op in operations])
        repo = self._repo(repo_id, repo_type)
        if self.on_commit is not None:
            self.on_commit(self, repo_id)
        if revision not in (None, "main"):
            raise http_error(404, f"branch {revision} not found", RevisionNotFoundError)
        if parent_commit is not None and parent_commit != repo.head:
            raise http_error(412, "A commit has happened since. Please refresh and try again.")
        if not operations:
            raise http_error(400, "empty commit")
        if len(operations) > self.max_files_per_commit:
            raise http_error(400, f"too many operations in one commit ({len(operations)})")
        files = dict(repo.commits[repo.head])
        for op in operations:
            path = op.path_in_repo
            parts = PurePosixPath(path).parts
            if path.startswith("/") or ".." in parts or ".git" in parts:
                raise http_error(400, f"invalid path {path!r}")
            if isinstance(op, CommitOperationDelete):
                if path not in files:
                    raise http_error(404, f"cannot delete missing file {path}")
                del files[path]
            elif isinstance(op, CommitOperationAdd):
                data = _read(op.path_or_fileobj)
                if len(data) > self.max_file_size:
                    raise http_error(413, f"{path} is too large")
                files[path] = self.corrupt.get(path, data)
            else:
                raise TypeError(op)
        per_folder = Counter(str(PurePosixPath(p).parent) for p in files)
        if per_folder and max(per_folder.values()) > self.max_entries_per_folder:
            raise http_error(400, "too many files in one folder")
        oid = self._new_commit(repo, files, commit_message)
        return CommitInfo(commit_url=f"https://huggingface.co/datasets/{repo_id}/commit/{oid}",
                          commit_message=commit_message, commit_description="", oid=oid)

    def get_paths_info(self, repo_id: str, paths: list[str] | str, *, revision: str | None = None,
                       repo_type: str | None = None, **_: Any) -> list[RepoFile]:
        paths = [paths] if isinstance(paths, str) else list(paths)
        self._record("get_paths_info", repo_id=repo_id, revision=revision, n=len(paths))
        repo = self._repo(repo_id, repo_type)
        files = repo.commits[self._resolve(repo, revision)]
        out = []
        for path in paths:
            if path not in files:
                continue
            data = files[path]
            blob = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
            lfs = ({"size": len(data), "oid": hashlib.sha256(data).hexdigest(), "pointerSize": 132}
                   if path.endswith(LFS_SUFFIXES) else None)
            out.append(RepoFile(path=path, size=len(data), oid=blob, lfs=lfs))
        return out

    def create_tag(self, repo_id: str, *, tag: str, tag_message: str | None = None, revision: str | None = None,
                   repo_type: str | None = None, exist_ok: bool = False, **_: Any) -> None:
        self._record("create_tag", repo_id=repo_id, tag=tag, revision=revision)
        repo = self._repo(repo_id, repo_type)
        if tag in repo.tags:
            raise http_error(409, f"Tag reference {tag} already exists")
        repo.tags[tag] = self._resolve(repo, revision)


def _read(source: Any) -> bytes:
    if isinstance(source, bytes):
        return source
    if isinstance(source, io.BufferedIOBase):
        return source.read()
    with open(source, "rb") as f:
        return f.read()
