"""The processes of one build: rank, world size, barriers and agreement.

Three ways to coordinate, chosen by ``connect`` from the launcher's environment:

- ``SingleProcess``: a plain ``anomset build``.
- ``FileRanks``: the ranks of a one-machine ``accelerate launch``, ``torchrun`` or
  ``anomset build --processes N``. They meet through files in a folder (a build's own
  ``<out>/.anomset/ranks``) named after their common parent, the launcher, so model-free builds never
  import torch: on a CPU box ``import torch`` plus a gloo process group cost each rank seconds,
  more than a small build's rendering saves.
- ``TorchRanks``: launches across machines, through accelerate's ``PartialState``.

This module (with ``launch`` and ``local_launch``) is the only code that reads the launcher's rank
variables; others ask ``launched_world_size`` and ``is_main_process``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from anomset.build.local_launch import LOCAL_LAUNCH_ENV
from anomset.errors import AnomsetError, PeerError

LAUNCHES_DIR = "anomset-launches"
DEVICE_ENV = "ANOMSET_DEVICE"  # e.g. cpu on a GPU box, or cuda:1
FAILED = "failed"  # any rank that fails creates it; the others stop before their next shard
_sessions = itertools.count()  # every rank builds in the same order, so the n-th session matches


class Ranks:
    """One process alone: rank 0 of 1. Subclasses coordinate several."""

    rank = 0
    world = 1
    steals = False  # whether a rank may take shards from the blocks of others (see ``schedule``)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Return once every rank has called it."""

    def agree(self, ok: bool) -> bool:
        """True on every rank only if ``ok`` is True on every rank (so a failing rank stops them all)."""
        return ok

    def claim(self, index: int) -> bool:
        """Take pending shard ``index`` for this rank; False if another rank has it."""
        return True

    def check(self) -> None:
        """Raise if this rank should stop: its launcher is gone, or (where ranks can tell) another failed."""

    def fail(self) -> None:
        """Tell the other ranks, where they can be told at once, that this one failed."""

    def close(self) -> None:
        """Release what coordination left behind; every rank calls it, failed or not."""


SingleProcess = Ranks


class _LaunchedRanks(Ranks):
    """A rank started by a launcher that is its parent process."""

    def __init__(self, rank: int, world: int) -> None:
        self.rank, self.world = rank, world
        self._launcher = os.getppid()

    def check(self) -> None:
        # An orphan is re-parented, so a changed parent means the launcher died (e.g. SIGKILL).
        if os.getppid() != self._launcher:
            raise AnomsetError(f"rank {self.rank}: the launcher (pid {self._launcher}) has exited; stopping",
                               fix="rerun the launch command to resume the build")


class FileRanks(_LaunchedRanks):
    """Ranks of one launch on one machine, meeting through files under ``root`` (default ``<tmp>/anomset-launches``).

    A launch is named by its launcher's pid, start time and restart count, which every rank reads
    alike and no other launch shares; each ``connect`` within it gets a session folder of its own.
    """

    steals = True

    def __init__(self, rank: int, world: int, session: str, root: Path | None = None) -> None:
        super().__init__(rank, world)
        self._root = root or Path(tempfile.gettempdir()) / LAUNCHES_DIR
        launch = launch_name(self._launcher)
        if rank == 0:
            prune_stale_launches(self._root, keep=launch)
        self._dir = self._root / launch / session
        self._dir.mkdir(parents=True, exist_ok=True)
        self._steps = itertools.count()

    def barrier(self) -> None:
        self._exchange(f"step{next(self._steps)}", b"")

    def check(self) -> None:
        super().check()
        if (self._dir / FAILED).exists():
            raise PeerError(self.rank)

    def fail(self) -> None:
        (self._dir / FAILED).touch()

    def claim(self, index: int) -> bool:
        try:
            os.close(os.open(self._dir / f"claim-{index}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True

    def agree(self, ok: bool) -> bool:
        return all(v == b"1" for v in self._exchange(f"step{next(self._steps)}", b"1" if ok else b"0"))

    def close(self) -> None:
        # The last rank to close removes the session; a rank that has closed reads nothing more.
        self._post("closed", b"")
        if all((self._dir / f"closed.{r}").exists() for r in range(self.world)):
            shutil.rmtree(self._dir, ignore_errors=True)
            for folder in (self._dir.parent, self._root):  # only once every session of the launch is gone
                with contextlib.suppress(OSError):
                    folder.rmdir()

    def _exchange(self, name: str, payload: bytes) -> list[bytes]:
        self._post(name, payload)
        paths = [self._dir / f"{name}.{r}" for r in range(self.world)]
        delay = 0.001
        while True:
            try:
                return [p.read_bytes() for p in paths]
            except FileNotFoundError:
                super().check()  # a failed peer still comes to vote
                time.sleep(delay)
                delay = min(2 * delay, 0.05)

    def _post(self, name: str, payload: bytes) -> None:
        tmp = self._dir / f".{name}.{self.rank}.tmp"
        tmp.write_bytes(payload)
        os.replace(tmp, self._dir / f"{name}.{self.rank}")  # peers never read half a file


class TorchRanks(_LaunchedRanks):
    """Ranks joined by ``torch.distributed`` (gloo on CPU, NCCL on GPU) through accelerate."""

    def __init__(self) -> None:
        import torch
        from accelerate import PartialState

        # Model-free synthesis needs no GPU; on a CPU box accelerate must be told (ENVIRONMENT.md).
        self._state: Any = PartialState(cpu=not torch.cuda.is_available())
        super().__init__(self._state.process_index, self._state.num_processes)

    def barrier(self) -> None:
        self._state.wait_for_everyone()

    def agree(self, ok: bool) -> bool:
        import torch
        import torch.distributed as dist

        # NCCL (GPU ranks) reduces only device tensors; gloo (CPU ranks) takes the CPU device here.
        flag = torch.tensor([1 if ok else 0], dtype=torch.int64, device=self._state.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag.item())

    def close(self) -> None:
        import torch.distributed as dist

        # Left to interpreter exit, gloo's teardown can abort a rank ("terminate called without an
        # active exception"), failing a build that succeeded.
        if dist.is_initialized():
            dist.destroy_process_group()


def local_device() -> str:
    """The device this process's models use: ``$ANOMSET_DEVICE`` when set, else ``cuda:<LOCAL_RANK>`` when
    CUDA is present (one GPU per rank of a machine), else ``cpu``. Imports torch: call it only for a model."""
    import torch

    chosen = os.environ.get(DEVICE_ENV, "").strip()
    if chosen:
        return chosen
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % torch.cuda.device_count()}"
    return "cpu"


def launched_world_size() -> int:
    """How many processes the launcher (accelerate, torchrun, ``--processes``) started; 1 when none."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Whether this process is rank 0 of its launch (a plain process is)."""
    return int(os.environ.get("RANK", "0")) == 0


def connect(session: str, root: Path | None = None) -> Ranks:
    """This process's view of the launch it belongs to (``SingleProcess`` when not launched).

    ``root`` is where one machine's ranks meet (a build passes its output's ``.anomset/ranks``,
    so nothing outlives the build outside it); default: ``<tmp>/anomset-launches``.
    """
    env = os.environ
    world = launched_world_size()
    if world <= 1:
        return SingleProcess()
    name = f"{session}-{next(_sessions)}"
    # torchelastic (accelerate launch, torchrun) and ``--processes`` start one machine's ranks as
    # children of one launcher.
    launched_here = "TORCHELASTIC_RUN_ID" in env or LOCAL_LAUNCH_ENV in env
    if launched_here and env.get("LOCAL_WORLD_SIZE") == str(world):
        return FileRanks(int(env["RANK"]), world, name, root)
    return TorchRanks()


def launch_name(launcher_pid: int) -> str:
    """``<pid>-<start time>-<restart>``: the same in every rank of a launch, different in any other."""
    restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return f"{launcher_pid}-{_start_time(launcher_pid)}-{restart}"


def prune_stale_launches(root: Path, keep: str) -> None:
    """Remove the folders of launches whose launcher has exited (killed builds leave them)."""
    if not root.is_dir():
        return
    for folder in root.iterdir():
        pid, _, rest = folder.name.partition("-")
        if folder.name == keep or not pid.isdigit():
            continue
        started = rest.partition("-")[0]
        if _start_time(int(pid)) != started:
            shutil.rmtree(folder, ignore_errors=True)


def _start_time(pid: int) -> str:
    """The process's start time in centiseconds, or '' if no such process exists."""
    import psutil

    try:
        return str(round(psutil.Process(pid).create_time() * 100))
    except psutil.Error:
        return ""

