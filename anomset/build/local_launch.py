"""``anomset build --processes N``: the ranks of one build on this machine, started by anomset itself.

For model-free builds on CPU boxes, where ``accelerate launch`` adds seconds of its own start-up and
a config to write. The ranks are ordinary ``python -m anomset build`` processes with the launcher
variables torchrun would set, so they meet exactly as under ``accelerate launch`` (``ranks.FileRanks``).
Like torchelastic, a rank that fails stops the others, since they could otherwise wait for it forever.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

from anomset.errors import PeerError

LOCAL_LAUNCH_ENV = "ANOMSET_LOCAL_LAUNCH"
_POLL_SECONDS = 0.02


class _Stop(Exception):
    """SIGTERM reached the launcher."""


def available_cores() -> int:
    """Cores this process may run on (the CPU affinity, not the machine's total)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_ranks(args: list[str], processes: int) -> int:
    """Run ``python -m anomset <args>`` as ranks ``0..processes-1``; return the exit code of the build.

    0 when every rank succeeds. Once one fails, the others are stopped with SIGTERM and the exit code
    is the failing rank's own, not that of a rank stopped for it. SIGINT reaches the ranks through
    the terminal; SIGTERM is passed on.
    """
    env = {**os.environ, "WORLD_SIZE": str(processes), "LOCAL_WORLD_SIZE": str(processes), LOCAL_LAUNCH_ENV: "1",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    ranks: list[subprocess.Popen[bytes]] = []
    try:
        for rank in range(processes):
            ranks.append(subprocess.Popen([sys.executable, "-m", "anomset", *args],
                                          env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)}))
        return _supervise(ranks)
    except KeyboardInterrupt:  # from the terminal, which sent SIGINT to the ranks as well
        _stop_all(ranks, signal.SIGTERM, grace=2.0)
        return 130
    except _Stop:
        _stop_all(ranks, signal.SIGTERM)
        return 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)


def _supervise(ranks: list[subprocess.Popen[bytes]]) -> int:
    while True:
        codes = [rank.poll() for rank in ranks]
        if any(code not in (None, 0) for code in codes):
            # A moment for ranks already on their way out, so each exits with its own reason.
            _stop_all(ranks, signal.SIGTERM, grace=1.0)
            return _cause([_exit_code(rank.returncode) for rank in ranks])
        if all(code == 0 for code in codes):
            return 0
        time.sleep(_POLL_SECONDS)


def _cause(codes: list[int]) -> int:
    """The exit code that says why the build failed: not a rank stopped for a peer or by the launcher."""
    failed = [code for code in codes if code != 0]
    consequences = (PeerError.exit_code, 128 + signal.SIGTERM)
    return next((code for code in failed if code not in consequences), failed[0])


def _stop_all(ranks: list[subprocess.Popen[bytes]], how: signal.Signals, grace: float = 0.0) -> None:
    """Signal the ranks still running after ``grace`` seconds (they remove their shard in progress), wait."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(rank.poll() is None for rank in ranks):
        time.sleep(_POLL_SECONDS)
    for rank in ranks:
        if rank.poll() is None:
            rank.send_signal(how)
    for rank in ranks:
        try:
            rank.wait(timeout=60)
        except subprocess.TimeoutExpired:
            rank.kill()
            rank.wait()


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode  # killed by signal N: 128 + N, as shells say


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop()
