"""Every result the chapters state in prose is pasted with ``myst_nb.glue`` from the cell that
computes it (or that reads the committed file it comes from), without building the book:

* no result number (an accuracy, a lift, points, an interval, a time, a rate) is typed into the
  markdown of ``book/0*.ipynb`` or ``book/intro.md``, except in a sentence that quotes the
  paper and the few settings and definitions of :data:`ALLOWED`, each with its reason;
* every ``{glue:...}`` key the markdown uses is glued by a code cell of the notebook it names
  (its own, or ``other.ipynb::key`` for another page), so a misspelt key fails here rather than
  as a warning of the ``-W`` build.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = sorted(BOOK.glob("0*.ipynb"))

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_WORDS = r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|a few|several|about an?)"
#: What a typed result looks like: a decimal (not a version such as 2.14.1), a percentage, a
#: number of points, seconds, minutes, hours, milliseconds or images/s, a speed-up such as
#: "2.4x", and the same spelt out ("nine points under", "about a minute"). Plain counts and
#: sizes ("20,400 images", "64 x 64", "Eq. 5") are not results, nor are geometric points.
RESULT = re.compile(
    rf"(?<![\w.])(?:\d+\.\d+(?!\.?\d)"
    rf"|{_NUM}\s*%"
    rf"|{_NUM}\s*(?:points?|s|sec|seconds?|ms|min|minutes?|h|hours?|images/s)\b"
    rf"|{_NUM}x\b)"
    rf"|\b{_WORDS}\s+(?:seconds?|minutes?|hours?)\b"
    rf"|\b{_WORDS}\s+points?\s+(?:of|under|over|above|below|better|worse|higher|lower|more|less)\b",
    re.IGNORECASE,
)
#: A sentence with one of these quotes the paper (its sections, tables, published numbers).
PAPER = re.compile(r"Sec\.|Table|\b[Pp]aper|\b[Pp]ublished")
#: Numbers that are settings, definitions or dataset facts, not results: (pattern, reason).
ALLOWED = [
    (r"95% (?:paired )?(?:bootstrap )?interval",
     "the confidence level of every interval (analysis.paired_difference), a setting"),
    (r"2\.5% and 97\.5% quantiles", "the ends of that 95% interval (chapter 6, exercise 2)"),
    (r"threshold 0\.5", "the decision threshold, metrics.THRESHOLD, a setting"),
    (r"within 2 points of the prior", "chapter 3's blindness check, a setting of its verdicts cell"),
    (r"1/7 \\approx 0\.14", "a uniform affinity row over K - 1 = 7 senders, a definition"),
    (r"\\approx 0\.66\$M", "the arithmetic of the formula beside it, 8 x (128^2 + 256^2)"),
    (r"lr 0\.1 and at 0\.01", "the learning rates an earlier AlexNet attempt used, settings"),
    (r"positive in about 2% of images", "CelebA's positive rate of Bald, a dataset fact"),
]

#: ``{glue}`key```, ``{glue:text}`key:.1f```, ``{glue:md}`...```: the role and its content
GLUE_ROLE = re.compile(r"\{glue(?::(\w+))?\}`([^`]*)`")
GLUE_CALL = re.compile(r"\bglue\(\s*(?:(['\"])([^'\"]+)\1)?")
ROLE = re.compile(r"\{[\w:-]+\}`[^`]*`")  # {cite:p}`key`, {glue:text}`key`, ...
#: a fenced code block (```bash ...), not a directive (````{exercise} ...: prose)
CODE_FENCE = re.compile(r"^(`{3,}|~{3,})(?![`~{])[^\n]*\n.*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z*_(\[\"'])")
BLOCK_START = re.compile(r"^\s*(?:[*+-]\s|\d+\.\s|\||#|:|`{3,})")  # list item, table row, heading


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _markdown() -> dict[str, str]:
    """Every markdown text of the book, by where it is (``file`` or ``file#cell``)."""
    out = {"intro.md": (BOOK / "intro.md").read_text(encoding="utf-8")}
    for path in CHAPTERS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for n, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "markdown":
                out[f"{path.name}#{cell.get('id', n)}"] = _source(cell)
    return out


def sentences(text: str) -> list[str]:
    """The prose of a markdown text, one sentence (or list item, table row, heading) at a time:
    fenced code, roles (glue, cite) and inline code removed."""
    text = CODE_FENCE.sub("", text)
    text = re.sub(r"^[ \t]*(?:`{3,}|~{3,}).*$", "", text, flags=re.MULTILINE)  # directive fences
    text = ROLE.sub("", text)
    text = re.sub(r"`[^`]+`", "code", text)  # inline code, which may wrap a line
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if not line.strip():
            blocks.append([])
        elif BLOCK_START.match(line) or not blocks:
            blocks.append([line.strip()])
        else:
            blocks[-1].append(line.strip())
    out = []
    for block in blocks:
        out += [s for s in SENTENCE_END.split(" ".join(block)) if s.strip()]
    return out


def typed_results(text: str) -> list[tuple[str, str]]:
    """(number, sentence) for every result number typed into ``text``."""
    found = []
    for sentence in sentences(text):
        if PAPER.search(sentence):
            continue
        rest = sentence
        for pattern, _reason in ALLOWED:
            rest = re.sub(pattern, " ", rest)
        found += [(m.group(0), sentence) for m in RESULT.finditer(rest)]
    return found


def test_result_pattern():
    flagged = ["reaches 93.4% here.", "a lift of 1.17, then", "in 642 s on", "about 7 minutes",
               "2.4x faster", "loses 8.8 to 13.8 points", "nine points under", "in about a minute",
               "at 5,700 images/s", "threshold 0.6.", "under 100 ms",
               "````{exercise} E\n:label: e\n\nIt scores 81.2% here.\n````"]
    kept = ["torch 2.14.1 and Python 3.11.7 here", "Sec. 4.1 gives lr 0.01", "(Eq. 5) on 20,400 images",
            "64 x 64 input, blocks 3 and 4", "the paper's 12.8M parameters", "threshold 0.5 here",
            "ran in {glue:text}`chapter_seconds:.0f` s", "at {glue:text}`acc:.1f`%",
            "`pool=0.5` in code", "a $3\\times3$ convolution", "```bash\nsleep 10 s\n```",
            "benchmarks/studies/2026-12-01-quick-profile, 2-core AMD EPYC",
            "Two points fix a similarity"]
    for text in flagged:
        assert typed_results(text), f"not flagged: {text!r}"
    for text in kept:
        assert not typed_results(text), f"flagged: {text!r} -> {typed_results(text)}"


@pytest.mark.parametrize("pattern,reason", ALLOWED, ids=[p for p, _ in ALLOWED])
def test_every_allowed_number_is_still_in_the_book(pattern, reason):
    """An allow-list entry that no longer matches anything would silently allow a result."""
    assert reason
    assert any(re.search(pattern, " ".join(sentences(t))) for t in _markdown().values()), (
        f"ALLOWED entry {pattern!r} matches no markdown of the book: remove it")


def test_no_result_number_is_typed_into_the_markdown():
    problems = [f"{where}: {number!r} in: {sentence[:160]}"
                for where, text in _markdown().items() for number, sentence in typed_results(text)]
    assert not problems, (
        "result numbers typed into the book's markdown; glue them from the cell that computes "
        "them (from myst_nb import glue; glue(key, value, display=False), then "
        "{glue:text}`key:.2f` in the text), or, for a setting, definition or dataset fact, add "
        "it to ALLOWED with its reason:\n" + "\n".join(problems))


def glued_keys(path: Path) -> list[str]:
    """The keys the code cells of a notebook glue, in order (a repeated key warns in the build)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    keys = []
    for n, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        for m in GLUE_CALL.finditer(_source(cell)):
            assert m.group(2), (f"{path.name}#{cell.get('id', n)}: glue(...) with a key that is "
                                "not a string literal; this test could not check its uses")
            keys.append(m.group(2))
    return keys


def glue_uses(text: str) -> list[tuple[str | None, str, str]]:
    """(document or None, key, role text) for every glue role in ``text``, split as myst-nb
    1.x splits them (myst_nb/ext/glue/roles.py): ``{glue:text}`` first cuts its format spec off
    at the last ':', then a document at '::'. So ``doc.ipynb::key`` needs a format spec
    (``doc.ipynb::key:s``): without one the key would be read as ``doc.ipynb:``."""
    uses = []
    for kind, content in GLUE_ROLE.findall(text):
        key = content.rsplit(":", 1)[0] if kind == "text" and ":" in content else content
        doc, _, name = key.rpartition("::")
        uses.append((doc or None, name if doc else key, content))
    return uses


def test_glue_keys_are_literal_and_unique():
    for path in CHAPTERS:
        keys = glued_keys(path)
        twice = sorted({k for k in keys if keys.count(k) > 1})
        assert not twice, f"{path.name} glues {twice} more than once (myst-nb warns)"


def test_every_pasted_key_is_glued():
    glued = {path.name: set(glued_keys(path)) for path in CHAPTERS}
    problems, used = [], 0
    for where, text in _markdown().items():
        page = where.split("#")[0]
        for doc, key, content in glue_uses(text):
            used += 1
            if doc is None:
                if page not in glued:
                    problems.append(f"{where}: {content!r}: a page without code cells can only "
                                    "paste from a notebook (doc.ipynb::key:fmt)")
                elif key not in glued[page]:
                    problems.append(f"{where}: {content!r}: no code cell of {page} glues {key!r}")
            elif not (BOOK / doc).is_file():
                problems.append(f"{where}: {content!r}: no notebook book/{doc}")
            elif key not in set(glued_keys(BOOK / doc)):
                problems.append(f"{where}: {content!r}: book/{doc} glues no {key!r}")
    assert used, "the book pastes nothing with glue"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_time_note_pastes_this_builds_time(path: Path):
    """The time note at the top quotes what this build measured, glued by the last code cell."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    note = _source(nb["cells"][0])
    assert "{glue:text}`chapter_seconds:" in note and "{glue:text}`chapter_machine" in note, (
        f"{path.name}: the time note should paste chapter_seconds and chapter_machine")
    last = _source([c for c in nb["cells"] if c["cell_type"] == "code"][-1])
    assert "book.chapter_time()" in last and 'glue("chapter_seconds"' in last, (
        f"{path.name}: the last code cell should glue book.chapter_time()")


def test_intro_pastes_every_chapters_time():
    uses = {(doc, key) for doc, key, _ in glue_uses((BOOK / "intro.md").read_text(encoding="utf-8"))}
    missing = [p.name for p in CHAPTERS if (p.name, "chapter_seconds") not in uses]
    assert not missing, f"intro.md's time table does not paste the time of {missing}"


def test_chapter_time_needs_the_banner(monkeypatch, capsys, tmp_path):
    from mggnet_lite import book

    monkeypatch.setattr(book, "_chapter_started", [])
    with pytest.raises(RuntimeError, match="banner"):
        book.chapter_time()
    monkeypatch.delenv("MGGNET_DATA", raising=False)
    monkeypatch.setenv("MGGNET_PROFILE", "quick")
    monkeypatch.setenv("MGGNET_BOOK_CACHE", str(tmp_path))
    book.banner("test")
    took = book.chapter_time()
    assert 0 <= took["seconds"] < 60 and isinstance(took["seconds"], float)
    assert isinstance(took["machine"], str) and took["machine"]
