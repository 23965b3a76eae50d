"""``python -m mggnet_lite.widgets offline-assets DIR``: see :func:`.static.main`."""

from .static import main

if __name__ == "__main__":
    raise SystemExit(main())
