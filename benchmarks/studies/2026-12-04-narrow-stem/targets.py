"""Issue 19's targets (``tests/test_targets.py``, what ``make targets`` asserts) on a lever of
this study instead of the quick profile: every variant the targets train (the four of Table 3
and chapter 3's blind MGG-Net) gets the lever's settings, through ``book.book_config``.

    python targets.py stem16 --epochs 8 --lr 4e-3 --detach-senders [-- PYTEST ARGS]

Run from this folder with ``PYTHONPATH`` at the checkout; ``MGGNET_BOOK_RUNS`` /
``MGGNET_BOOK_CACHE`` as for ``study.py run`` (the lever's stage 1 is reused from there).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent


def _load_study() -> ModuleType:
    """This folder's ``study.py`` under its own name (it imports the levers study's, also
    named ``study``, as ``levers``)."""
    spec = importlib.util.spec_from_file_location("narrow_stem_study", HERE / "study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


study = _load_study()


def main(argv: list[str]) -> int:
    import pytest

    ap = argparse.ArgumentParser()
    ap.add_argument("lever", choices=study.LEVERS)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--detach-senders", action="store_true")
    a, rest = ap.parse_known_args(argv)
    settings = study.settings_of(a.lever)
    if a.epochs:
        settings["epochs_at_lr"] = a.epochs
    if a.lr:
        settings["lr"] = settings["low_lr"] = a.lr
    if a.detach_senders:
        study.patch_detach_senders()
        settings["extra"] = {**settings.get("extra", {}), "gcl": "detached-senders"}
    from mggnet_lite import book

    profile_config = book.book_config

    def lever_config(variant: str = "mggnet", **more):
        return profile_config(variant, **{**settings, **more})

    book.book_config = lever_config
    print(f"targets on lever {a.lever}: {settings}", flush=True)
    root = HERE.parents[2]
    return pytest.main(["-m", "targets", "-s", "-p", "no:cacheprovider",
                        str(root / "tests" / "test_targets.py"), *[r for r in rest if r != "--"]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
