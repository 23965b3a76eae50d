"""The book's notebooks as files: committed stripped, listed in the TOC, starting with the banner.

(Executing them is nbval's job: ``pytest --nbval-lax --nbval-current-env book/``.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def _toc_files(node) -> list[str]:
    """Every ``file:`` / ``root:`` entry of a jb-book ``_toc.yml``, depth first."""
    out: list[str] = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if isinstance(node.get(key), str):
                out.append(node[key])
        for value in node.values():
            if isinstance(value, list | dict):
                out.extend(_toc_files(value))
    elif isinstance(node, list):
        for item in node:
            out.extend(_toc_files(item))
    return out


def _resolve(entry: str) -> list[Path]:
    """The file(s) a TOC entry can mean: with its suffix, or ``.md`` / ``.ipynb`` added."""
    p = ROOT / entry
    return [p] if p.suffix else [p.with_suffix(".ipynb"), p.with_suffix(".md")]


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def test_there_are_notebooks():
    assert NOTEBOOKS, "book/ holds no notebooks"


def _is_checked(cell: dict) -> bool:
    return cell["cell_type"] == "code" and _source(cell).lstrip().startswith(
        "# NBVAL_CHECK_OUTPUT")


def _is_text_output(out: dict) -> bool:
    if out.get("output_type") == "stream":
        return out.get("name") == "stdout"
    if out.get("output_type") == "execute_result":
        return set(out.get("data", {})) <= {"text/plain"}
    return False


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped(path: Path):
    """No outputs, execution counts or widget state in git (the build executes them).

    The one exception is nbval's reference: a ``# NBVAL_CHECK_OUTPUT`` cell keeps its
    plain-text output (nbval compares only cells that have one), nothing else.
    """
    nb = _load(path)
    problems = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        if "execution" in cell.get("metadata", {}):
            problems.append(f"cell {i} has execution timing metadata")
        if _is_checked(cell):
            bad = [o.get("output_type") for o in cell.get("outputs", []) if not _is_text_output(o)]
            if bad:
                problems.append(f"checked cell {i} keeps non-text output(s) {bad}")
            continue
        if cell.get("outputs"):
            problems.append(f"cell {i} has {len(cell['outputs'])} output(s)")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {i} has execution_count {cell['execution_count']}")
    if "widgets" in nb.get("metadata", {}):
        problems.append("notebook metadata holds widget state (metadata.widgets)")
    assert not problems, (
        f"{path.name} is not stripped: {'; '.join(problems)}. Strip it with "
        f"`python -m mggnet_lite.book strip {path.relative_to(ROOT)}` (keeps nbval's "
        "reference outputs) or refresh it with `python -m mggnet_lite.book record ...`."
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_checked_cells_have_a_reference(path: Path):
    """nbval skips a checked cell with no stored output, so each must keep its reference."""
    nb = _load(path)
    empty = [i for i, c in enumerate(nb["cells"])
             if _is_checked(c) and (c.get("execution_count") is None or not c.get("outputs"))]
    assert not empty, (
        f"{path.name}: NBVAL_CHECK_OUTPUT cell(s) {empty} have no reference output, so nbval "
        f"would check nothing; run `python -m mggnet_lite.book record {path.relative_to(ROOT)}`"
    )


def test_strip_keeps_only_references():
    import nbformat

    from mggnet_lite.book import strip_notebook

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(1)", execution_count=3, outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="1\n"),
            nbformat.v4.new_output("display_data", data={"image/png": "AAAA"})]),
        nbformat.v4.new_code_cell("x = 1", execution_count=4, outputs=[
            nbformat.v4.new_output("execute_result", data={"text/plain": "1"},
                                   execution_count=4)]),
    ], metadata={"widgets": {"state": {}}})
    strip_notebook(nb)
    first, second = nb.cells
    assert [o["output_type"] for o in first.outputs] == ["stream"]
    assert first.execution_count == 1
    assert second.outputs == [] and second.execution_count is None
    assert "widgets" not in nb.metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_uses_python3_kernel(path: Path):
    """The build runs the kernel named in the metadata; nbval uses the current env."""
    spec = _load(path).get("metadata", {}).get("kernelspec", {})
    assert spec.get("name") == "python3", f"{path.name}: kernelspec {spec!r}, expected python3"


def test_toc_lists_existing_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    entries = _toc_files(toc)
    assert entries and toc.get("root"), "_toc.yml lists nothing"
    missing = [e for e in entries if not any(p.is_file() for p in _resolve(e))]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_notebook_is_in_the_toc():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    listed = {p.resolve() for e in _toc_files(toc) for p in _resolve(e)}
    orphans = [p.name for p in NOTEBOOKS if p.resolve() not in listed]
    assert not orphans, f"notebooks missing from _toc.yml (the build would skip them): {orphans}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_starts_with_summary_and_banner(path: Path):
    """First cell: markdown saying what the chapter builds and its time; first code cell: the
    install cell (tests/test_install_cell.py); then the banner (profile, device, data)."""
    nb = _load(path)
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown", f"{path.name}: first cell is not markdown"
    assert "time" in _source(first).lower(), (
        f"{path.name}: the first cell should say how long the chapter takes in each profile"
    )
    code = _code_cells(nb)
    assert len(code) > 1, f"{path.name} has no code cell after the install cell"
    assert code[0].get("id") == "install", f"{path.name}: the first code cell is not the install cell"
    assert "banner(" in _source(code[1]), (
        f"{path.name}: the code cell after the install cell must call mggnet_lite.book.banner(...)"
    )


def test_banner_reports_profile_device_data(monkeypatch, capsys, tmp_path):
    from mggnet_lite import book

    monkeypatch.delenv("MGGNET_DATA", raising=False)
    monkeypatch.setenv("MGGNET_PROFILE", "quick")
    monkeypatch.setenv("MGGNET_BOOK_CACHE", str(tmp_path))
    info = book.banner("test")
    text = capsys.readouterr().out
    assert info.profile == "quick" and info.synthfaces
    assert info.data == book.synth_root() and info.data.parent == tmp_path
    assert f"n{book.default_synth_n()}-seed{book.BOOK_SEED}" in info.data.name
    for word in ("profile : quick", "device  : cpu", "data    : SynthFaces", "eyes hidden in"):
        assert word in text
    assert not info.data.exists(), "the banner must not render data"


def test_a_gpu_without_real_data_keeps_the_book_quick(monkeypatch, capsys, tmp_path):
    """A Colab GPU and no CelebA: the book stays on the quick profile unless the reader asks
    for synth (the trainer's own default there is synth: test_staged)."""
    from mggnet_lite import book
    from mggnet_lite.training import config

    monkeypatch.delenv("MGGNET_DATA", raising=False)
    monkeypatch.delenv("MGGNET_PROFILE", raising=False)
    monkeypatch.setenv("MGGNET_BOOK_CACHE", str(tmp_path))
    monkeypatch.setattr(config, "has_gpu", lambda: True)
    monkeypatch.setattr(book, "has_gpu", lambda: True)
    assert config.choose_profile(None) == "synth"
    info = book.banner("test")
    text = capsys.readouterr().out
    assert info.profile == "quick"
    assert "MGGNET_PROFILE=synth" in text and "MGGNET_DATA=CELEBA_DIR" in text
    monkeypatch.setenv("MGGNET_PROFILE", "synth")
    assert book.profile() == "synth"
    celeba = tmp_path / "celeba"
    celeba.mkdir()
    monkeypatch.delenv("MGGNET_PROFILE")
    monkeypatch.setenv("MGGNET_DATA", str(celeba))
    assert book.profile() == "full"


def test_book_data_prefers_mggnet_data(monkeypatch, tmp_path):
    from mggnet_lite import book

    monkeypatch.setenv("MGGNET_DATA", str(tmp_path))
    assert book.book_data() == tmp_path.resolve()
    assert not book.uses_synthfaces()
    monkeypatch.setenv("MGGNET_DATA", str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="MGGNET_DATA"):
        book.book_data()


def test_bad_profile_is_refused(monkeypatch):
    from mggnet_lite import book

    monkeypatch.setenv("MGGNET_PROFILE", "fast")
    with pytest.raises(ValueError, match="quick"):
        book.profile()


def test_localisation_of_uniform_and_perfect_masks():
    import torch

    from mggnet_lite.analysis import localisation

    truth = torch.zeros(1, 2, 20, 10, dtype=torch.bool)
    truth[0, 0, :5] = True  # a quarter of the image
    truth[0, 1, :, :5] = True  # half of it
    uniform = localisation(torch.full((1, 2, 4, 4), 0.3), truth)
    torch.testing.assert_close(uniform, torch.tensor([[0.25, 0.5]]))
    perfect = localisation(truth.float(), truth)  # mask = region, same resolution
    torch.testing.assert_close(perfect, torch.ones(1, 2))


def test_group_dependence_and_rank_correlation():
    import numpy as np

    from mggnet_lite.analysis import group_dependence, rank_correlation, row_normalise
    from mggnet_lite.attributes import CELEBA_ATTRIBUTES

    rng = np.random.default_rng(0)
    y = (rng.random((500, 40)) < 0.3).astype(np.uint8)
    y[:, CELEBA_ATTRIBUTES.index("Wearing_Necklace")] = y[:, CELEBA_ATTRIBUTES.index("Smiling")]
    d = group_dependence(y)
    assert d.shape == (8, 8) and np.all(np.diag(d) == 0)
    neck, mouth = 7, 6  # GROUPS order
    assert d[neck, mouth] == d[neck].max() and d[mouth, neck] == d[mouth].max()
    r = row_normalise(d)
    np.testing.assert_allclose(r.sum(1), 1.0)
    assert rank_correlation(d, -d) == -1.0


def test_rank_correlation_by_hand():
    """Spearman's rho of the off-diagonal entries, ties at their mean rank, worked by hand."""
    import numpy as np

    from mggnet_lite.analysis import rank_correlation

    # off-diagonal entries in row order: a = 1 2 2 3 5 4, b = 2 1 4 3 6 6 (diagonals ignored)
    a = np.array([[100, 1, 2], [2, 100, 3], [5, 4, 100]])
    b = np.array([[-100, 2, 1], [4, -100, 3], [6, 6, -100]])
    # ranks (1-based, ties share their mean): a 1 2.5 2.5 4 6 5, b 2 1 4 3 5.5 5.5; both have
    # mean 3.5, sum (ra - 3.5)(rb - 3.5) = 3.75 + 2.5 - 0.5 - 0.25 + 5 + 3 = 13.5 and
    # sum (ra - 3.5)^2 = sum (rb - 3.5)^2 = 17, so rho = 13.5 / 17 = 27 / 34. (Ranking the ties
    # in order instead gives 29 / 35; the no-ties formula 1 - 6 sum d^2 / (n (n^2 - 1)) gives 0.8.)
    assert rank_correlation(a, b) == pytest.approx(27 / 34, abs=1e-12)
    assert rank_correlation(b, a) == pytest.approx(27 / 34, abs=1e-12)
    assert np.isnan(rank_correlation(np.ones((3, 3)), b))  # no spread: undefined, as documented


def test_row_normalise_empty_row_is_uniform_off_diagonal():
    import numpy as np

    from mggnet_lite.analysis import row_normalise

    r = row_normalise(np.array([[0.0, 0, 0], [2, 0, 2], [1, 3, 9]]))
    np.testing.assert_allclose(r, [[0, 0.5, 0.5], [0.5, 0, 0.5], [0.25, 0.75, 0]])
