# Two entry points (README): `make book` builds the site, `make test` runs every test.
# Each creates .venv in the checkout if there is none and installs from pyproject.toml.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export MPLBACKEND := Agg

.PHONY: book offline-assets test unit lint notebooks targets clean-book clean help browser-test lock
help:
	@echo "make book   build the Jupyter Book site into _build/html (SynthFaces, quick profile)"
	@echo "make test   lint + unit tests + notebook tests (nbval)"
	@echo "make lock   refresh requirements-lock.txt, the exact versions make installs"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Re-install when pyproject.toml or the lock changes; the stamp records which extra was
# installed. requirements-lock.txt holds the exact versions (`make lock` refreshes it), used as
# pip constraints: every package it names is installed at its locked version; a platform
# without some of them (no CUDA wheels on a Mac) installs what applies there.
LOCK := requirements-lock.txt
$(VENV)/.book.stamp: pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install -q -c $(LOCK) -e ".[book]"
	touch $@

$(VENV)/.test.stamp: pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install -q -c $(LOCK) -e ".[test]"
	touch $@ $(VENV)/.book.stamp

# Refresh requirements-lock.txt: a fresh virtual environment with the test extra (which holds
# the book's), frozen. Run it after changing a requirement in pyproject.toml.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q --upgrade pip
	.lock-venv/bin/python -m pip install -q -e ".[test]"
	{ echo "# Exact versions of everything \`pip install -e .[test]\` installs (the book's extra included),"; \
	  echo "# frozen by \`make lock\` on $$(date -u +%Y-%m-%d), $$(uname -sm), $$(.lock-venv/bin/python -V)."; \
	  echo "# The Makefile installs with \`pip install -c requirements-lock.txt\`: see the README, \"Two commands\"."; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable; } > $(LOCK)
	rm -rf .lock-venv

# Offline pages: _ext/offline_assets.py (a Sphinx extension named in _config.yml) fetches
# MathJax 3, require.js and the ipywidgets HTML manager with npm once into _offline/
# (git-ignored), writes chapter 7's anywidget bundle beside them and points the pages at
# them. Without npm the pages load them from public CDNs: the extension says so at the end of
# the build as a notice (auto-notice), not as a Sphinx warning, which -W would make an error.
offline-assets: $(VENV)/.book.stamp
	$(BIN)/python _ext/offline_assets.py $(CURDIR)

# MPLBACKEND is unset for the build: with Agg the kernels would not show any figure. The
# build's own time (the environment already installed) is printed after it: on a fresh
# checkout that is the first build, which issue [2/4]'s target 5 bounds at 15 minutes.
book: $(VENV)/.book.stamp
	@t0=$$(date +%s); rc=0; \
	env -u MPLBACKEND MGGNET_OFFLINE_ASSETS=auto-notice $(BIN)/jupyter-book build . --path-output . -W --keep-going || rc=$$?; \
	echo "jupyter-book build: $$(( $$(date +%s) - t0 )) s"; exit $$rc
	@echo "Site: $(CURDIR)/_build/html/index.html"

lint: $(VENV)/.test.stamp
	$(BIN)/ruff check .

# On every core (pytest-xdist): most tests wait on single-threaded child processes, so one
# process used about half of a 2-core machine. Whole files go to one worker (--dist loadfile):
# a module's shared fixtures (the README's commands, a rendered set) are made once.
unit: $(VENV)/.test.stamp
	$(BIN)/python -m pytest -n auto --dist loadfile tests

# One pytest (one fresh kernel) per chapter, in book order, each with its wall time. Chapters
# share trained runs through runs/book/ (the first that needs one trains it).
notebooks: $(VENV)/.test.stamp
	@set -e; for nb in book/*.ipynb; do t0=$$(date +%s); \
	  $(BIN)/python -m pytest -q --nbval-lax --nbval-current-env -p no:cacheprovider $$nb; \
	  echo "chapter time: $$nb $$(( $$(date +%s) - t0 )) s"; done

# The book's targets on the saved quick-profile runs the notebooks trained (prints figures; a
# target not met fails). Part of `make test` once every target holds (issue [2/4]).
targets: $(VENV)/.test.stamp
	$(BIN)/python -m pytest -m targets -s -p no:cacheprovider tests/test_targets.py

# make test: the unit tests and every chapter (nbval) in one session on every core, each worker
# with its share of the cores and the longest files first (tests/_schedule.py), so that neither
# waits for the other; it ends with each chapter's time. Chapters share trained runs through
# runs/book/ (the first that needs one trains it; a kernel that needs it meanwhile waits, then
# loads it).
test: lint $(VENV)/.test.stamp
	$(BIN)/python -m pytest -n auto --dist loadfile --nbval-lax --nbval-current-env tests book/[0-9]*.ipynb

clean-book:
	rm -rf _build

clean: clean-book
	rm -rf $(VENV) _offline

# Explorer widgets in a real browser (issue 6; a few minutes): JupyterLab live + the built
# chapter-7 page offline, in Debian's Chromium (apt-get install chromium). Playwright is
# installed without its own browser download. Uses _build/html when `make book` made it.
browser-test: $(VENV)/.test.stamp offline-assets
	@test -x /usr/bin/chromium || { echo "make browser-test needs Chromium: apt-get install chromium" >&2; exit 1; }
	@$(BIN)/python -c "import playwright" 2>/dev/null || PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/python -m pip install -q playwright
	MGGNET_BROWSER_TESTS=1 $(BIN)/python -m pytest tests/browser -v -s -p no:cacheprovider
