# Two entry points (README): `make book` builds the site, `make test` runs every test.
# Each creates .venv in the checkout if there is none and installs from pyproject.toml.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export MPLBACKEND := Agg

.PHONY: book offline-assets test unit lint notebooks clean-book clean help browser-test
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

# Offline pages (shared/FINDINGS.md): MathJax 3, require.js and the ipywidgets HTML manager
# are installed from the npm registry into _offline/ (git-ignored) and copied into the site
# by `html_extra_path: [_offline/site]` (_config.yml), so they land in _build/html/_static/offline/.
# They are deliberately NOT in a top-level `_static/` folder: Jupyter Book 1 would inject
# every .js/.css found there into every page.
OFFLINE_NPM  := mathjax@3 requirejs@2.3 @jupyter-widgets/html-manager@1.0
OFFLINE_SITE := _offline/site/_static/offline
_offline/.stamp: Makefile
	@command -v npm >/dev/null || { echo "make book needs npm (Node.js) once, to fetch MathJax 3 and the widget manager for offline pages: e.g. apt-get install npm" >&2; exit 1; }
	rm -rf _offline && mkdir -p _offline/npm $(OFFLINE_SITE)/html-manager
	npm install --prefix _offline/npm --no-save --no-package-lock --no-audit --no-fund --loglevel=error $(OFFLINE_NPM)
	cp -r _offline/npm/node_modules/mathjax/es5 $(OFFLINE_SITE)/mathjax
	cp _offline/npm/node_modules/requirejs/require.js $(OFFLINE_SITE)/require.js
	cd _offline/npm/node_modules/@jupyter-widgets/html-manager/dist && \
	  cp embed-amd.js *.woff *.woff2 *.ttf *.eot *.svg $(CURDIR)/$(OFFLINE_SITE)/html-manager/
	# the manager asks for its icon fonts relative to the page (book/@jupyter-widgets/...)
	for d in book/@jupyter-widgets/html-manager/dist book/@jupyter-widgets; do \
	  mkdir -p _offline/site/$$d && \
	  cp _offline/npm/node_modules/@jupyter-widgets/html-manager/dist/*.woff* \
	     _offline/npm/node_modules/@jupyter-widgets/html-manager/dist/*.ttf _offline/site/$$d/; done
	rm -rf _offline/npm
	touch $@  # outside site/, so the stamp is not copied into the build

# Chapter 7's static scrubber is an anywidget: its AMD bundle (from the installed anywidget)
# and a require.js mapping to it, so the HTML manager never falls back to a CDN (issue 6).
WIDGET_JS := $(OFFLINE_SITE)/anywidget/index.js
$(WIDGET_JS): _offline/.stamp $(VENV)/.book.stamp
	$(BIN)/python -m mggnet_lite.widgets offline-assets $(OFFLINE_SITE)/anywidget

offline-assets: _offline/.stamp $(WIDGET_JS)

# MPLBACKEND is unset for the build: with Agg the kernels would not show any figure.
book: $(VENV)/.book.stamp _offline/.stamp $(WIDGET_JS)
	env -u MPLBACKEND $(BIN)/jupyter-book build . --path-output . -W --keep-going
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
