"""The read side stands alone: hub, inspect, preview, export and evaluation read built folders through
``anomset.dataset``; the build never imports the hub, and the read side never imports the build."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "anomset"
# module or package (relative to anomset/) -> the packages it must never import
FORBIDDEN = {
    "build": ("anomset.hub",),
    "dataset": ("anomset.build", "anomset.hub"),
    "hub": ("anomset.build",),
    "inspect.py": ("anomset.build",),
    "preview.py": ("anomset.build",),
    "evaluate": ("anomset.build",),
}


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import statement in ``source``, function-level imports included."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def test_the_scan_sees_function_level_imports() -> None:
    source = "def f():\n    from anomset.build.state import OutputState\n"
    assert imported_modules(source) == [(2, "anomset.build.state")]


def test_layers_import_only_what_they_may() -> None:
    offenders = []
    for part, forbidden in FORBIDDEN.items():
        target = PACKAGE / part
        files = sorted(target.rglob("*.py")) if target.is_dir() else [target] if target.exists() else []
        for path in files:
            for line, module in imported_modules(path.read_text(encoding="utf-8")):
                if module.startswith(forbidden):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    assert offenders == []
