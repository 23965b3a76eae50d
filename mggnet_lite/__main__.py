"""``python -m mggnet_lite``: the command line (:mod:`mggnet_lite.cli`).

The call is guarded: the cache build and the SynthFaces render start worker processes that
re-import the main module (``forkserver``), and :mod:`mggnet_lite.parallel` refuses to start
them from an unguarded top level (ARCHITECTURE.md, "Rules").
"""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
