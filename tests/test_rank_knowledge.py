"""Only the build launcher knows ranks: no other module reads the launcher's rank variables."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "anomset"
LAUNCHER = {"build/launch.py", "build/ranks.py", "build/local_launch.py"}
RANK_NAMES = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK", "GROUP_RANK"}
RANK_CALLS = {"get_rank", "get_world_size"}


def rank_reads(source: str) -> list[str]:
    """The rank variable names and torch.distributed rank calls a module's source mentions."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and node.value in RANK_NAMES:
            found.append(f"line {node.lineno}: {node.value!r}")
        elif isinstance(node, ast.Attribute) and node.attr in RANK_CALLS:
            found.append(f"line {node.lineno}: .{node.attr}")
    return found


def test_the_scan_finds_a_rank_read() -> None:
    assert rank_reads('import os\nrank = int(os.environ.get("RANK", "0"))\n') == ["line 2: 'RANK'"]
    assert rank_reads("import torch.distributed as d\nd.get_world_size()\n") == ["line 2: .get_world_size"]


def test_no_module_outside_the_launcher_reads_rank_variables() -> None:
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel not in LAUNCHER and (reads := rank_reads(path.read_text(encoding="utf-8"))):
            offenders[rel] = reads
    assert offenders == {}, f"ask anomset.build.ranks instead: {offenders}"
