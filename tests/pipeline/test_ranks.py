"""How the processes of a build meet: file rendezvous on one machine, torch.distributed across machines."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from anomset.build import ranks as ranks_module
from anomset.build.ranks import FileRanks, SingleProcess, connect, launch_name, prune_stale_launches
from anomset.errors import PeerError
from anomset.recipe import load_recipe
from tests.conftest import many_shards_recipe
from tests.helpers import accelerate_launch, build_env, reference_build, tree_digest


def _run_all(procs: list, timeout: float) -> list[int | None]:
    """Start the processes, wait for them together, kill what still runs; their exit codes (None: hung)."""
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    codes = [p.exitcode for p in procs]
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()
    return codes


def _rank_main(rank: int, world: int, root: str, arrivals: dict, results: dict) -> None:
    """One rank: arrive late by rank, cross a barrier, then vote twice (rank 2 says no the first time)."""
    ranks = FileRanks(rank, world, "session", Path(root))
    time.sleep(0.2 * rank)
    arrivals[rank] = time.monotonic()
    ranks.barrier()
    passed = time.monotonic()
    first = ranks.agree(rank != 2)
    second = ranks.agree(True)
    ranks.close()
    results[rank] = (passed, first, second)


def test_file_ranks_barrier_waits_for_everyone_and_agree_is_unanimous(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")  # children share this process as their launcher
    with context.Manager() as manager:
        arrivals, results = manager.dict(), manager.dict()
        procs = [context.Process(target=_rank_main, args=(r, 3, str(tmp_path / "ranks"), arrivals, results))
                 for r in range(3)]
        assert _run_all(procs, timeout=30) == [0, 0, 0]
        last_arrival = max(arrivals.values())
        assert all(passed >= last_arrival for passed, _, _ in results.values())
        assert [results[r][1:] for r in range(3)] == [(False, True)] * 3
    assert not (tmp_path / "ranks").exists()  # the last rank to close removed the launch's folder and its root


def test_file_ranks_claim_each_shard_once_and_hear_of_a_failed_peer(tmp_path: Path) -> None:
    first, second = FileRanks(0, 2, "session", tmp_path), FileRanks(1, 2, "session", tmp_path)
    assert first.steals and [first.claim(3), second.claim(3), second.claim(4)] == [True, False, True]
    first.check()  # nobody failed yet
    second.fail()
    with pytest.raises(PeerError, match="rank 0: another process of this build failed"):
        first.check()


def _late_rank(rank: int, recipe: str, out: str, tmp: str, log: str) -> None:
    """A build rank of a two-process launch; rank 1 lists the pending shards half a second late."""
    import anomset.build.launch as launch
    from anomset.build.state import OutputState

    os.environ.update(WORLD_SIZE="2", LOCAL_WORLD_SIZE="2", RANK=str(rank), ANOMSET_LOCAL_LAUNCH="1")
    tempfile.tempdir = tmp
    if rank == 1:
        is_done, late = OutputState.is_done, [True]

        def late_is_done(self: OutputState, relpath: str) -> bool:
            if late.pop() if late else False:
                time.sleep(0.5)
            return is_done(self, relpath)

        OutputState.is_done = late_is_done  # type: ignore[method-assign]
    write_shard = launch.write_shard

    def logged(shard, *args, **kwargs):  # type: ignore[no-untyped-def]
        with open(log, "a") as f:
            f.write(f"{shard.relpath}\n")
        if rank == 0:
            time.sleep(0.05)  # slow enough that rank 0 is still at work when rank 1 lists
        return write_shard(shard, *args, **kwargs)

    launch.write_shard = logged
    from anomset.workflow import build_dataset

    build_dataset(load_recipe(Path(recipe)), Path(out), progress=False)


def test_ranks_list_the_same_pending_shards_before_any_is_written(tmp_path: Path) -> None:
    """A rank slow to list pending shards must not see a faster rank's first shards as done (claims index the list)."""
    recipe = many_shards_recipe(tmp_path, count=30)
    reference = reference_build(recipe, tmp_path)
    context = multiprocessing.get_context("fork")
    (tmp_path / "tmp").mkdir()
    args = (str(recipe), str(tmp_path / "out"), str(tmp_path / "tmp"), str(tmp_path / "log"))
    procs = [context.Process(target=_late_rank, args=(rank, *args)) for rank in range(2)]
    assert _run_all(procs, timeout=60) == [0, 0]
    written = (tmp_path / "log").read_text().split()
    assert sorted(written) == sorted(set(written)) and len(written) == len(list((reference / "data").rglob("*.tar")))
    assert tree_digest(tmp_path / "out") == tree_digest(reference)


def test_single_process_when_not_launched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ranks = connect("build")
    assert isinstance(ranks, SingleProcess) and (ranks.rank, ranks.world, ranks.is_main) == (0, 1, True)
    assert ranks.agree(False) is False and ranks.agree(True) is True
    ranks.barrier()
    ranks.check()  # no launcher to lose, no peer to fail


def test_one_machine_torchelastic_launch_uses_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")
    ranks = connect("build")
    assert isinstance(ranks, FileRanks) and (ranks.rank, ranks.world, ranks.is_main) == (1, 2, False)
    assert (tmp_path / ranks_module.LAUNCHES_DIR / launch_name(os.getppid())).is_dir()


def test_stale_launch_folders_are_pruned(tmp_path: Path) -> None:
    parent = os.getppid()
    alive = tmp_path / launch_name(parent)
    dead = tmp_path / "999999999-12345-0"  # no such pid
    reused = tmp_path / f"{parent}-1-0"  # a live pid, but started at another time: a recycled pid
    for folder in (alive, dead, reused):
        (folder / "build-0").mkdir(parents=True)
        (folder / "build-0" / "step0.0").write_bytes(b"")
    prune_stale_launches(tmp_path, keep="none")
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive.name]


def test_a_rank_whose_launcher_died_stops_waiting(tmp_path: Path) -> None:
    """The launcher is killed while a rank waits at a barrier: the orphan raises instead of hanging."""
    report = tmp_path / "report.txt"
    script = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from anomset.build.ranks import FileRanks
        if os.fork() == 0:  # the rank; its parent plays the launcher and dies
            ranks = FileRanks(0, 2, "session", Path({str(tmp_path / "launches")!r}))
            try:
                ranks.barrier()  # rank 1 never comes
                Path({str(report)!r}).write_text("passed the barrier")
            except Exception as exc:
                Path({str(report)!r}).write_text(f"{{type(exc).__name__}}: {{exc}}")
            os._exit(0)
        time.sleep(0.5)
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", script], env=build_env(), check=True, timeout=60)
    deadline = time.monotonic() + 30
    while not report.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    text = report.read_text()
    assert text.startswith("AnomsetError: rank 0: the launcher (pid ") and "has exited; stopping" in text


def test_torch_ranks_under_accelerate_launch(tmp_path: Path) -> None:
    """The path for launches across machines, run on one: gloo barrier and a unanimous vote."""
    script = tmp_path / "vote.py"
    script.write_text(textwrap.dedent("""
        import sys
        from pathlib import Path
        from anomset.build.ranks import TorchRanks
        ranks = TorchRanks()
        ranks.barrier()
        first = ranks.agree(ranks.rank == 0)
        second = ranks.agree(True)
        ranks.close()
        Path(sys.argv[1], f"rank{ranks.rank}.txt").write_text(f"{ranks.world} {first} {second}")
    """))
    done = subprocess.run(accelerate_launch(str(script), str(tmp_path)), env=build_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [(tmp_path / f"rank{r}.txt").read_text() for r in range(2)] == ["2 False True"] * 2


def test_no_rendezvous_files_outlive_a_launched_build(tmp_path: Path, tiny_recipe_path: Path) -> None:
    """A two-process build leaves nothing in the temp folder's launches area (and never imports torch)."""
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    probe = tmp_path / "probe.py"  # runs the CLI, then reports whether torch got imported
    probe.write_text(textwrap.dedent("""
        import sys
        from anomset.cli import main
        try:
            main(standalone_mode=False)
        finally:
            print(f"torch imported: {'torch' in sys.modules}", flush=True)
    """))
    command = accelerate_launch(str(probe), "build", str(tiny_recipe_path), "--out", str(tmp_path / "out"),
                                "--no-progress")
    done = subprocess.run(command, env=build_env(TMPDIR=str(private_tmp)), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("torch imported: False") == 2
    launches = private_tmp / ranks_module.LAUNCHES_DIR
    assert not launches.exists() or list(launches.iterdir()) == []

