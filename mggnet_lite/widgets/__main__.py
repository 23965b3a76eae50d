"""``python -m mggnet_lite.widgets offline-assets DIR``: see :func:`.static.main`."""

from .static import main

raise SystemExit(main())
