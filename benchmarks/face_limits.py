"""The face detector's limits on two real portraits: a thin wrapper of ``face_limits.measure``.

    python benchmarks/face_limits.py                     # the detector, full sweep
    python benchmarks/face_limits.py --variants all      # + upright only, unverified, before

``--variants`` adds, beside the package's detector: ``upright`` (one pass at roll 0, no
rotation sweep), ``unverified`` (no second-cascade check of each face) and ``before`` (the
``faces.py`` of commit 3684211, read with ``git show``; needs this checkout's history).
Writes ``benchmarks/results/face_limits_<today>.json`` (chapter 7 reads the newest): the machine, the versions, the
settings, each variant's table, summary and target misses (the detector's: every photo's
row; the others': their number).
Single-threaded (``cv2.setNumThreads(1)``), about 5 minutes per variant on one CPU core.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled

from mggnet_lite.deploy import face_limits as fl  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / f"face_limits_{datetime.date.today()}.json"
BEFORE = "3684211"


def _before_detector(commit: str = BEFORE):
    """``detect_and_align`` of ``mggnet_lite/deploy/faces.py`` as it was at ``commit``."""
    src = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:mggnet_lite/deploy/faces.py"],
        check=True, capture_output=True, text=True,
    ).stdout
    name = "mggnet_lite.deploy._faces_before"
    spec = importlib.util.spec_from_loader(name, loader=None)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "mggnet_lite.deploy"
    sys.modules[name] = mod  # dataclasses look their module up here
    exec(compile(src, f"{commit}:faces.py", "exec"), mod.__dict__)
    return mod.detect_and_align


def _machine() -> dict:
    import cv2
    import matplotlib
    import numpy
    import PIL

    try:
        import skimage

        skv = skimage.__version__
    except ImportError:
        skv = None
    return {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "threads": "1 (cv2.setNumThreads(1), OMP_NUM_THREADS=1)",
        },
        "versions": {
            "python": platform.python_version(),
            "opencv": cv2.__version__,
            "numpy": numpy.__version__,
            "pillow": PIL.__version__,
            "matplotlib": matplotlib.__version__,
            "scikit-image": skv,
        },
    }


def dump(doc: dict) -> str:
    """``doc`` as JSON, with each photo's row and each summary row on one line."""
    doc, lines = json.loads(json.dumps(doc)), {}
    for v in doc["variants"].values():
        for key in ("rows", "summary", "target_misses"):
            for i, item in enumerate(v[key] if isinstance(v.get(key), list) else []):
                lines[mark := f"@row{len(lines)}@"] = json.dumps(item)
                v[key][i] = mark
    text = json.dumps(doc, indent=1)
    for mark, line in lines.items():
        text = text.replace(f'"{mark}"', line, 1)
    return text + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="", help="comma list of upright,unverified,before "
                    "or 'all'")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    import cv2

    cv2.setNumThreads(1)
    names = ["upright", "unverified", "before"] if args.variants == "all" else [
        v for v in args.variants.split(",") if v]
    detectors = {"detector": None, "upright": fl.detector(rolls=(0.0,)),
                 "unverified": fl.detector(verify=False)}
    if "before" in names:
        detectors["before"] = _before_detector()
    doc = {"date": datetime.date.today().isoformat(),
           "command": "python benchmarks/face_limits.py" + (
               f" --variants {args.variants}" if args.variants else ""),
           **_machine(), "settings": fl.sweep_settings(), "variants": {}}
    for name in ["detector", *names]:
        t = time.perf_counter()
        rows = fl.measure(detector=detectors[name])
        misses = fl.target_misses(rows)
        doc["variants"][name] = {
            "seconds": round(time.perf_counter() - t, 1),
            "target_met": not misses,
            "target_misses": misses if name == "detector" else len(misses),
            "table": fl.format_table(rows).splitlines(),
            "summary": fl.summarize(rows),
            **({"rows": rows} if name == "detector" else {}),
        }
        print(f"{name}: {len(misses)} target misses, {doc['variants'][name]['seconds']} s")
        print(fl.format_table(rows), flush=True)
    Path(args.out).write_text(dump(doc))
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
