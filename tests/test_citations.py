"""The book's citations, without building it: every ``{cite}`` key used in the chapters'
markdown (``book/*.ipynb``, ``book/intro.md``) is an entry of ``references.bib``, every entry
is cited somewhere, and the bibliography page is wired into ``_toc.yml`` and ``_config.yml``
(a misspelt key would otherwise only show as a warning of the ``-W`` build)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "references.bib"
REFERENCES_PAGE = "book/references"

#: MyST citation roles of sphinxcontrib-bibtex: {cite}`a`, {cite:p}`a,b`, {cite:t}`a`,
#: {cite:ps}`a`, {cite:author}`a`, {cite:year}`a`, ...
CITE_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`{}]*)`")
#: an entry's type and key; @comment / @string / @preamble hold no entry
BIB_ENTRY = re.compile(r"^\s*@\s*(\w+)\s*[{(]\s*([^,\s]+)\s*,", re.MULTILINE)
NOT_ENTRIES = {"comment", "string", "preamble"}


def _markdown_sources() -> dict[str, str]:
    """Every markdown text of the book, by where it is (``file`` or ``file#cell``)."""
    out = {"book/intro.md": (ROOT / "book" / "intro.md").read_text(encoding="utf-8")}
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for n, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "markdown":
                source = cell["source"]
                text = "".join(source) if isinstance(source, list) else source
                out[f"book/{path.name}#{cell.get('id', n)}"] = text
    return out


def cited_keys(text: str) -> list[str]:
    """The keys of every citation role in ``text``, in order, as written."""
    return [key.strip() for keys in CITE_ROLE.findall(text) for key in keys.split(",")]


def bib_keys(text: str) -> list[str]:
    return [key for kind, key in BIB_ENTRY.findall(text) if kind.lower() not in NOT_ENTRIES]


def _citations() -> dict[str, list[str]]:
    """Key -> the places that cite it."""
    where: dict[str, list[str]] = {}
    for place, text in _markdown_sources().items():
        for key in cited_keys(text):
            where.setdefault(key, []).append(place)
    return where


def test_cite_role_pattern():
    text = "a {cite:p}`x2020a, y2021b` b {cite}`z` c {cite:t}`w` d `not {cite}` e {cite:ps}`v`"
    assert cited_keys(text) == ["x2020a", "y2021b", "z", "w", "v"]
    bib = "@comment{skip,}\n@Article{k1,\n title={T}}\n @inproceedings{ k2 ,\n}\n@string{s = {x}}"
    assert bib_keys(bib) == ["k1", "k2"]


def test_the_chapters_cite():
    where = _citations()
    assert len(where) >= 10, f"only {sorted(where)} cited"
    cited_in = {place.split("#")[0] for places in where.values() for place in places}
    assert "book/intro.md" in cited_in, "the introduction cites nothing (the paper, at least)"


def test_bib_keys_are_unique():
    keys = bib_keys(BIB.read_text(encoding="utf-8"))
    assert keys, "references.bib has no entries"
    twice = [k for k, n in Counter(keys).items() if n > 1]
    assert not twice, f"references.bib defines these keys more than once: {twice}"


def test_every_cited_key_is_in_the_bib():
    known = set(bib_keys(BIB.read_text(encoding="utf-8")))
    unknown = {k: v for k, v in _citations().items() if k not in known}
    assert not unknown, f"cited but not in references.bib (key: where): {unknown}"


def test_every_bib_entry_is_cited():
    cited = set(_citations())
    uncited = [k for k in bib_keys(BIB.read_text(encoding="utf-8")) if k not in cited]
    assert not uncited, f"in references.bib but cited nowhere in the book: {uncited}"


def test_bib_parses_with_the_builds_parser():
    """sphinxcontrib-bibtex reads the file with pybtex; every entry has what the list shows."""
    database = pytest.importorskip("pybtex.database")
    data = database.parse_file(str(BIB), bib_format="bibtex")
    assert set(data.entries) == set(bib_keys(BIB.read_text(encoding="utf-8")))
    for key, entry in data.entries.items():
        assert entry.persons.get("author"), f"{key}: no author"
        for field in ("title", "year"):
            assert entry.fields.get(field), f"{key}: no {field}"
        assert re.fullmatch(r"\d{4}", entry.fields["year"]), f"{key}: year {entry.fields['year']!r}"
        if entry.type == "inproceedings":
            assert entry.fields.get("booktitle"), f"{key}: no booktitle"
        if entry.type == "article":
            assert entry.fields.get("journal"), f"{key}: no journal"


def test_toc_lists_the_references_page_last():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    chapters = [c.get("file") for c in toc.get("chapters", [])]
    assert REFERENCES_PAGE in chapters, f"_toc.yml does not list {REFERENCES_PAGE}"
    assert chapters[-1] == REFERENCES_PAGE, "the references page should be the last one"
    page = (ROOT / f"{REFERENCES_PAGE}.md").read_text(encoding="utf-8")
    assert re.search(r"^```\{bibliography\}", page, re.MULTILINE), (
        f"{REFERENCES_PAGE}.md has no {{bibliography}} directive"
    )


def test_config_names_the_bib():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    bibfiles = config.get("bibtex_bibfiles") or []
    assert "references.bib" in bibfiles, "_config.yml: bibtex_bibfiles must name references.bib"
    for name in bibfiles:
        assert (ROOT / name).is_file(), f"_config.yml names {name}, which does not exist"
