# Two entry points (README): `make book` builds the site, `make test` runs every test.
# Each creates .venv in the checkout if there is none and installs from pyproject.toml.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export MPLBACKEND := Agg

.PHONY: book test unit lint notebooks clean-book clean help
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

book: $(VENV)/.book.stamp
	$(BIN)/jupyter-book build . --path-output . -W --keep-going
	@echo "Site: $(CURDIR)/_build/html/index.html"

lint: $(VENV)/.test.stamp
	$(BIN)/ruff check .

unit: $(VENV)/.test.stamp
	$(BIN)/python -m pytest tests

notebooks: $(VENV)/.test.stamp
	@if ls book/*.ipynb >/dev/null 2>&1; then \
	  $(BIN)/python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider book/; \
	else echo "no notebooks yet"; fi

test: lint unit notebooks

clean-book:
	rm -rf _build

clean: clean-book
	rm -rf $(VENV)
