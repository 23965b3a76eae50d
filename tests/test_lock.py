"""requirements-lock.txt (`make lock`): exact versions of everything the book and the tests
install, which the Makefile uses as pip constraints (README, "Two commands")."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements-lock.txt"
tomllib = pytest.importorskip("tomllib")  # Python 3.11+


def _locked() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for n, line in enumerate(LOCK.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert m, f"{LOCK.name} line {n}: expected name==version, got {line!r}"
        pins[canonicalize_name(m[1])] = Version(m[2])
    return pins


def _declared() -> list[Requirement]:
    """The project's requirements: its dependencies and every extra (self-references
    such as ``mggnet-lite[book]`` resolve to those extras)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        reqs += [r for r in map(Requirement, extra) if canonicalize_name(r.name) != "mggnet-lite"]
    return reqs


def test_every_requirement_is_locked_within_its_range() -> None:
    pins = _locked()
    for req in _declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is not in {LOCK.name}: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{LOCK.name} pins {name}=={pins[name]}, outside pyproject.toml's {req}: run "
            "`make lock`")


def test_the_environment_was_installed_from_the_lock() -> None:
    """What `make` installed here matches the lock, for every requirement the project names."""
    pins = _locked()
    for req in _declared():
        name = canonicalize_name(req.name)
        try:
            have = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name} is not installed: run `make .venv/.test.stamp`")
        assert have == pins[name], (
            f"{name} {have} is installed, {LOCK.name} pins {pins[name]}: reinstall with "
            "`make .venv/.test.stamp` (the Makefile installs with -c requirements-lock.txt)")
