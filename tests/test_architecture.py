"""ARCHITECTURE.md's map matches the tree, and the rooms stay their size (issue [1/4], item 4):
every module of ``mggnet_lite/`` is named in the map (a file, or the folder it lies in), every
name in the map exists, every function is at most 80 lines and every module at most 600."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "mggnet_lite"
#: entry points of a package folder, not rooms of their own
PLUMBING = {"__init__.py", "__main__.py"}


def map_names() -> set[str]:
    """The paths named in the first column of ARCHITECTURE.md's "Map" table."""
    text = (REPO / "ARCHITECTURE.md").read_text()
    section = text.split("## Map", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in re.findall(r"^\| (.+?) \|", section, flags=re.M):
        names.update(re.findall(r"`([\w/]+(?:\.py|/))`", row))
    return names


def modules() -> set[str]:
    return {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.name not in PLUMBING}


def test_the_map_names_every_module_and_only_modules_that_exist() -> None:
    named = map_names()
    assert named, "no map table found in ARCHITECTURE.md"
    folders = {n for n in named if n.endswith("/")}
    missing = sorted(m for m in modules()
                     if m not in named and not any(m.startswith(f) for f in folders))
    assert not missing, f"modules the map does not name: {missing}"
    gone = sorted(n for n in named if not (PACKAGE / n).exists())
    assert not gone, f"the map names what the tree does not have: {gone}"
    # a folder row names its modules in the "holds" column: each must exist there
    section = (REPO / "ARCHITECTURE.md").read_text().split("## Map", 1)[1].split("\n## ", 1)[0]
    for folder in folders:
        row = next(r for r in section.splitlines() if r.startswith(f"| `{folder}` |"))
        listed = re.findall(r"`(\w+)`", row.split("|")[2])
        files = {p.stem for p in (PACKAGE / folder).glob("*.py")} - {"__init__", "__main__"}
        assert files <= set(listed), f"{folder}: the map's row does not name {files - set(listed)}"


def test_functions_fit_on_a_screen_and_modules_stay_small() -> None:
    long_functions, big_modules = [], []
    for path in PACKAGE.rglob("*.py"):
        src = path.read_text()
        if src.count("\n") > 600:
            big_modules.append((str(path.relative_to(REPO)), src.count("\n")))
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > 80:
                    long_functions.append((f"{path.relative_to(REPO)}:{node.name}", lines))
    assert not long_functions, long_functions
    assert not big_modules, big_modules
