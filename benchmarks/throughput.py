"""Training throughput, plain pipeline vs ours: a thin wrapper of ``mggnet_lite.training.bench``.

    python benchmarks/throughput.py --ci                      # CPU, CI size (seconds)
    python benchmarks/throughput.py --data $MGGNET_DATA       # GPU, CelebA at 224, batch 144

Writes ``benchmarks/results/throughput-<machine>.json`` (see DESIGN Sec. 6).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from mggnet_lite.training.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
