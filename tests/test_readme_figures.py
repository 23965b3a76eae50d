"""README's "What the default build shows" is written from the build's results file
(``benchmarks/readme_figures.py``); it fails here as soon as the two disagree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = [sys.executable, "benchmarks/readme_figures.py", "--check"]


def test_readme_figures_match_the_results_file() -> None:
    done = subprocess.run(SCRIPT, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_changed_figure_is_caught(tmp_path) -> None:
    """The same check on a copy of the repository's files with one number edited."""
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    script = (REPO / "benchmarks" / "readme_figures.py").read_text(encoding="utf-8")
    (tmp_path / "benchmarks" / "readme_figures.py").write_text(script, encoding="utf-8")
    for rel in ("benchmarks/results/book-quick-targets.json",
                "benchmarks/studies/2026-12-05-partial-finetune/results/seeds10_avx2.json",
                "benchmarks/studies/2026-12-05-stage2-seeds/results/seeds_avx2.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes((REPO / rel).read_bytes())
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (tmp_path / "README.md").write_text(readme, encoding="utf-8")
    ok = subprocess.run(SCRIPT, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    section = readme[readme.index("**MGG-Net's accuracy.**"):]
    number = section.split("mean accuracy is ", 1)[1].split("%", 1)[0]
    edited = readme.replace(f"mean accuracy is {number}%", f"mean accuracy is {number}1%", 1)
    assert edited != readme
    (tmp_path / "README.md").write_text(edited, encoding="utf-8")
    bad = subprocess.run(SCRIPT, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "differ" in bad.stdout


def _mouth(hidden: tuple[float, float, float], visible: tuple[float, float, float],
           gal: float = 0.5, gain_lo: float = 1.0) -> dict:
    """A blind network's hidden-mouth measures, the same on both blocks."""
    ci = lambda d, lo, hi: {"diff": d, "lo": lo, "hi": hi}  # noqa: E731
    per = {"gal_minus_prior": ci(gal, gal - 1, gal + 1), "gcl_minus_gal": ci(3, gain_lo, 5),
           "messages": ci(*hidden), "messages_visible": ci(*visible)}
    return {"block3": per, "block4": per}


def test_the_controls_words_follow_the_intervals() -> None:
    """The README says the messages carry more than capacity only where the control's
    interval on hidden mouths lies above its interval on visible ones (chapter 3's rule), and
    puts the gain on the messages only where the blindness check passes."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import readme_figures as rf
    finally:
        sys.path.pop(0)
    apart, overlap = _mouth((9, 6, 12), (3, 2, 4)), _mouth((9, 6, 12), (11, 10, 12))
    assert rf._control_words(apart).startswith("Beyond the head's extra capacity")
    assert "cannot tell" in rf._control_words(overlap)
    assert "carry" not in rf._control_words(overlap)
    assert "came through Eq. 2's messages" in rf._blind_words(apart)
    assert "fails" in rf._blind_words(_mouth((9, 6, 12), (3, 2, 4), gal=4.0))
    assert "gains nothing clear" in rf._blind_words(_mouth((9, 6, 12), (3, 2, 4), gain_lo=-1))
