# Two entry points (README): `make book` builds the site, `make test` runs every test.
# Each creates .venv in the checkout if there is none and installs from pyproject.toml.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export MPLBACKEND := Agg

.PHONY: book offline-assets test unit lint notebooks targets clean-book clean help browser-test
help:
	@echo "make book   build the Jupyter Book site into _build/html (SynthFaces, quick profile)"
	@echo "make test   lint + unit tests + notebook tests (nbval)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Re-install when pyproject.toml changes; the stamp records which extra was installed.
$(VENV)/.book.stamp: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[book]"
	touch $@

$(VENV)/.test.stamp: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@ $(VENV)/.book.stamp

# Offline pages: _ext/offline_assets.py (a Sphinx extension named in _config.yml) fetches
# MathJax 3, require.js and the ipywidgets HTML manager with npm once into _offline/
# (git-ignored), writes chapter 7's anywidget bundle beside them and points the pages at
# them. Without npm the pages load them from public CDNs: the extension says so at the end of
# the build as a notice (auto-notice), not as a Sphinx warning, which -W would make an error.
offline-assets: $(VENV)/.book.stamp
	$(BIN)/python _ext/offline_assets.py $(CURDIR)

# MPLBACKEND is unset for the build: with Agg the kernels would not show any figure.
book: $(VENV)/.book.stamp
	env -u MPLBACKEND MGGNET_OFFLINE_ASSETS=auto-notice $(BIN)/jupyter-book build . --path-output . -W --keep-going
	@echo "Site: $(CURDIR)/_build/html/index.html"

lint: $(VENV)/.test.stamp
	$(BIN)/ruff check .

unit: $(VENV)/.test.stamp
	$(BIN)/python -m pytest tests

# One pytest (one fresh kernel) per chapter, in book order, with its wall time: the times the
# intro quotes. Chapters share trained runs through runs/book/ (the first that needs one trains it).
notebooks: $(VENV)/.test.stamp
	@set -e; for nb in book/*.ipynb; do t0=$$(date +%s); \
	  $(BIN)/python -m pytest -q --nbval-lax --nbval-current-env -p no:cacheprovider $$nb; \
	  echo "chapter time: $$nb $$(( $$(date +%s) - t0 )) s"; done

# The book's targets on the saved quick-profile runs the notebooks trained (prints figures; a
# target not met fails). Part of `make test` once every target holds (issue [2/4]).
targets: $(VENV)/.test.stamp
	$(BIN)/python -m pytest -m targets -s -p no:cacheprovider tests/test_targets.py

test: lint unit notebooks

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
