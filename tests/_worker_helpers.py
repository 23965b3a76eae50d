"""Functions for worker-process tests: importable by a forkserver child (tests/test_integrity.py)."""

from __future__ import annotations

import os


def die_on_three(x: int) -> int:
    """Return ``x``, except that the worker given 3 exits at once (as a killed worker would)."""
    if x == 3:
        os._exit(7)
    return x
