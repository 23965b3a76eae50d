"""The README's "What the default build shows", written from the build's own figures.

    python benchmarks/readme_figures.py           # rewrite that section of README.md
    python benchmarks/readme_figures.py --check   # exit 1 when README.md disagrees

Every number of the section comes from ``benchmarks/results/book-quick-targets.json``, which
``benchmarks/book_targets.py`` measures on the book's saved runs, except the fair protocol's
pooled pairs, from its study's ``results/seeds10_avx2.json``, and the book's protocol's, from
``2026-12-05-stage2-seeds``; nothing is typed by hand.
``tests/test_readme_figures.py`` fails while the two disagree.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from mggnet_lite import analysis

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "book-quick-targets.json"
#: the fair protocol's stage 2 trained with ten seeds in fp32, pooled (study.py seeds)
SEEDS = REPO / "benchmarks" / "studies" / "2026-12-05-partial-finetune" / "results" / "seeds10_avx2.json"
#: the book's own protocol (heads on stage 1's frozen features) trained with five stage-2 seeds
FROZEN_SEEDS = REPO / "benchmarks" / "studies" / "2026-12-05-stage2-seeds" / "results" / "seeds_avx2.json"
HEADING = "## What the default build shows (quick profile, CPU, built-in SynthFaces)"


def _ci(d: dict) -> str:
    return analysis.format_difference(d["diff"], d["lo"], d["hi"])


def _intro(r: dict) -> str:
    m = r["machine"]
    return f"""{HEADING}

The chapters compute every number in the build. The numbers below come from the build of
{r['date']} on a {m['cpu_cores']}-core {m['cpu'].replace('(R)', '').replace(' Processor', '')}
(torch {r['versions']['torch'].split('+')[0]}, {m['device'].upper()}).
`benchmarks/book_targets.py` recorded them in `benchmarks/results/book-quick-targets.json`,
and `benchmarks/readme_figures.py` wrote this section from that file. They are measured on
the test split, {r['n_test']:,} synthetic images. Always answering each attribute's majority
class scores {r['majority']:.2f}%.

**MGG-Net's accuracy.** With the prediction criterion, mean accuracy is
{r['mggnet_prediction']['mean_accuracy']:.2f}% and mean balanced accuracy
{r['mggnet_prediction']['mean_balanced_accuracy']:.2f}%. Trained with Table 2's balanced
criterion, they are {r['mggnet_balanced']['mean_accuracy']:.2f}% and
{r['mggnet_balanced']['mean_balanced_accuracy']:.2f}%.
"""


def _at_least(x: float) -> str:
    """``0.98 or more``; ``1.00`` when it rounds to the top."""
    return f"{x:.2f}" if f"{x:.2f}" == "1.00" else f"{x:.2f} or more"


def _masks(r: dict) -> str:
    hit, lift = r["pointing_game"]["block3"], r["lift"]["block3"]
    chance, best3, best4 = r["pointing_chance"], r["pointing_ceiling"]["block3"], \
        r["pointing_ceiling"]["block4"]
    order = sorted(hit, key=hit.get, reverse=True)
    half = sum(v >= 0.5 for v in hit.values())
    twice = sum(hit[g] >= 2 * chance[g] for g in hit)
    lift2 = sum(v >= 2 for v in lift.values())
    blind4 = [g for g in ("eyes", "nose", "mouth") if best4[g] < 0.5]
    g3, g4 = (" x ".join(str(n) for n in r["grid"][b]) for b in ("block3", "block4"))
    four = (f"Block 4's {g4} grid cannot point at the "
            f"{', '.join(f'{g} ({best4[g]:.2f})' for g in blind4)} of these 64-px faces, however "
            "well it learns." if blind4 else
            f"Block 4's {g4} grid could reach {_at_least(min(best4.values()))} for every group.")
    gap = r["gap_lift_block3"]
    return f"""
**Where GAL's block-3 masks point.** They put more of their mass on their parts than a uniform
mask would: the lift is {min(lift.values()):.1f} to {max(lift.values()):.1f}, with {lift2} of 8
groups at 2x or more. The pointing game (chapters 2 and 7) counts the test images whose
block-3 mask maximum lies inside the group's region; a tie is split over the peak's plateau.

| group | {' | '.join(order)} |
| --- | {' | '.join('---' for _ in order)} |
| pointing game | {' | '.join(f'{hit[g]:.2f}' for g in order)} |
| chance (region's area share) | {' | '.join(f'{chance[g]:.2f}' for g in order)} |

- {half} of 8 groups reach one half or more, and {twice} reach twice chance or more.
- Block 3's {g3} grid could reach {_at_least(min(best3.values()))} for every group: the
  "best" column of chapter 2, `analysis.pointing_ceiling`.
- {four}
- Chapter 2 also trains its GAL network with Eq. 1's GAP: those block-3 masks have a lift of
  {min(gap.values()):.1f} to {max(gap.values()):.1f}.
"""


def _affinities(r: dict) -> str:
    c = {b: {k: sum(v) / len(v) for k, v in r["affinity_collapse"][b].items()
             if k in ("top", "mean_top", "uniform_top")} for b in ("block3", "block4")}
    return f"""
**GCL's affinities.** On a single image they are peaked: a row's largest weight is
{c['block3']['top']:.2f} on block 3 and {c['block4']['top']:.2f} on block 4, where uniform
would be {c['block3']['uniform_top']:.2f}. Averaged over the test split they look flatter,
{c['block3']['mean_top']:.2f} and {c['block4']['mean_top']:.2f} (chapter 3).
"""


def _blind_words(mouth: dict) -> str:
    """Chapter 3's blindness check (the blind GAL head within 2 points of the prior on hidden
    mouths, target 3), and whether the GCL head gained there (its interval above 0)."""
    blocks = ("block3", "block4")
    blind = all(abs(mouth[b]["gal_minus_prior"]["diff"]) <= 2 for b in blocks)
    gained = [b[-1] for b in blocks if mouth[b]["gcl_minus_gal"]["lo"] > 0]
    if not blind:
        return ("The blind GAL head is more than 2 points from the prior on hidden mouths: the "
                "blindness check fails, and the GCL head's gain cannot be put on the messages.")
    head = "The blind GAL head stays within 2 points of the prior (chapter 3's blindness check)"
    if not gained:
        return head + ", and the GCL head gains nothing clear over it there."
    where = " and ".join(f"block {b}" for b in gained)
    return head + f", so what the GCL head gains there on {where} came through Eq. 2's messages."


def _control_words(mouth: dict) -> str:
    """Where the control's cost on hidden mouths lies clearly above its cost on visible ones
    (the intervals apart, chapter 3's rule), the messages carry more than capacity."""
    more, unclear = [], []
    for b in ("block3", "block4"):
        hid, vis = mouth[b]["messages"], mouth[b]["messages_visible"]
        (more if hid["lo"] > vis["hi"] else unclear).append(f"block {b[-1]}")
    if not unclear:
        return "Beyond the head's extra capacity, the messages carry this face's evidence."
    tail = (f"On {' and '.join(unclear)} the two intervals do not separate: there the control "
            "cannot tell this face's evidence from the head's extra capacity.")
    if not more:
        return tail
    return (f"On {' and '.join(more)} the hidden cost's interval lies above the visible one's: "
            f"beyond the head's extra capacity, the messages carry this face's evidence. {tail}")


def _hidden(r: dict) -> str:
    paper, blind = r["hidden_groups"], r["blind_network"]
    mouth = blind["hidden_groups"]["mouth"]
    rows = "\n".join(
        f"| {b[-1]} | {_ci(mouth[b]['gal_minus_prior'])} | {_ci(mouth[b]['gcl_minus_gal'])} | "
        f"costs {_ci(mouth[b]['messages'])} | costs {_ci(mouth[b]['messages_visible'])} |"
        for b in ("block3", "block4"))
    ratio = [mouth[b]["messages"]["diff"] / mouth[b]["messages_visible"]["diff"]
             for b in ("block3", "block4")]
    blind_words, control_words = _blind_words(mouth), _control_words(mouth)
    neck = blind["hidden_groups"]["neck"]
    neck_words = ", ".join(f"{_ci(neck[b]['gcl_minus_gal'])} on block {b[-1]}"
                           for b in ("block3", "block4"))
    groups = ", ".join(f'"{g}"' for g in blind["groups"])
    return f"""
**The hidden-part experiment (chapter 3).** Some faces have their eyes, mouth or neck hidden.
If the mouth is hidden, the most any graph could add is {paper['mouth']['bound']:.2f} points:
the exact Bayes posterior from the other groups' labels (`synthfaces.bayes`). For the neck it
is {paper['neck']['bound']:.2f} and for the eyes {paper['eyes']['bound']:.2f}.

In the paper's network the test cannot decide, because the hidden group's GAL head is not
blind: on hidden mouths it scores {paper['mouth']['block3']['gal_minus_prior']['diff']:+.2f}
(block 3) and {paper['mouth']['block4']['gal_minus_prior']['diff']:+.2f} (block 4) points over
the prior, reading the evidence from elsewhere in the face. So chapter 3 also trains a
**blind network** (`blind=({groups})`, not the paper's): each of those groups computes its
feature from the image with everything outside its own region replaced by the mean colour. On
an image whose mouth is hidden, the mouth branch sees the face mask and nothing else. Its mean
accuracy is {blind['mean_accuracy']:.2f}%; minus MGG-Net's, {_ci(blind['minus_mggnet'])}
points. On the images where the mouth is hidden ({mouth['n']} test images; 95% paired
bootstrap intervals, in points):

| block | blind GAL head − prior | GCL head − GAL head | senders-to-mean control, hidden | same control, visible |
| --- | --- | --- | --- | --- |
{rows}

- {blind_words}
- In the control, the other groups send their mean feature instead of this image's. On hidden
  mouths it costs the GCL head {ratio[0]:.1f} (block 3) and {ratio[1]:.1f} (block 4) times
  what it costs on visible ones. {control_words}
- On the neck, GCL − GAL is {neck_words}.
"""


def _table3(r: dict) -> str:
    d = r["mean_accuracy_differences"]
    return f"""
**Table 3's comparison, and why it is not yet fair.** MGG-Net minus GAL without GCL is
{_ci(d['mggnet_minus_gal'])} points of mean accuracy (95% paired bootstrap), and MGG-Net minus
the baseline {_ci(d['mggnet_minus_baseline'])}: one training each. {_frozen_seeds()} That
baseline is stage 1 itself: the backbone
was trained on the 40 attributes, so every network starts from the baseline's optimum.
Chapters 5 and 6 say so. `benchmarks/studies/2026-12-02-stage1` measured three stage 1s that
do not learn the attributes (SynthFaces' rendering parameters, their binarised "drawing", a
masked autoencoder): on their frozen features the four networks separate with tight
intervals, but none reaches the accuracy target (see that study).
`benchmarks/studies/2026-12-05-partial-finetune` fine-tunes blocks 4 and 5 of every network
from one generic stage 1: a fair comparison that learns the attributes, at a cost the quick
profile's first build cannot pay. Its orderings did not replicate in a second training that
differed only in rounding (fp32 instead of bf16): at this scale one run per network cannot
order the four. {_seeds()}
"""


def _pooled(s: dict, keys: tuple[str, ...], how: str | None = None) -> str:
    """A seeds file's pairs (``keys``, "b-a"), pooled over its runs, each with its verdict
    (``how``: the pair's entry that holds another pooling, e.g. "two_way")."""
    names = {"baseline": "the baseline", "independent": "independent", "gal": "w/o GCL",
             "mggnet": "MGG-Net"}
    pairs = []
    for key in keys:
        b, a = key.split("-")
        p = s["pairs"][key][how] if how else s["pairs"][key]
        word = {1: f"{names[b]} ahead", -1: f"{names[a]} ahead", 0: "within noise"}[
            analysis.interval_sign(p["lo"], p["hi"])]
        pairs.append(f"{names[b]} minus {names[a]} "
                     f"{analysis.format_difference(p['mean'], p['lo'], p['hi'])} ({word})")
    return "; ".join(pairs)


def _seeds() -> str:
    """The fair protocol's pairs pooled over its seeds, each with its verdict."""
    s = json.loads(SEEDS.read_text())
    keys = ("independent-baseline", "gal-independent", "mggnet-gal", "mggnet-baseline")
    kept = s["pairs"][keys[0]]["two_way"]["seeds"]
    half = max((p["two_way"]["hi"] - p["two_way"]["lo"]) / 2 for p in s["pairs"].values())
    each = max((p["hi"] - p["lo"]) / 2 for p in s["pairs"].values())
    called = sum(analysis.interval_sign(p["lo"], p["hi"]) != 0 for p in s["pairs"].values())
    return (f"Trained {len(s['seeds'])} times per network in fp32 (seeds "
            f"{min(s['seeds'])}-{max(s['seeds'])}, one stage 1). Pooled from the runs' own "
            f"intervals, {called} of the six pairs are decided (half-widths up to {each:.2f} "
            "points). Seeds "
            f"{min(kept)}-{max(kept)} were trained again to keep every test image's score, and "
            "pooled over that table of runs by images (`analysis.two_way_difference`: a 95% "
            "interval for a new training scored on new images, which counts a training's "
            "disagreement on single images once per run and image, not once per run): "
            + _pooled(s, keys, "two_way") + f"; every pair's half-width {half:.2f} or less. "
            "Chapter 6 and the study give all six pairs.")


def _frozen_seeds() -> str:
    """The book's own protocol pooled over five stage-2 seeds (the study's fp32 machine)."""
    s = json.loads(FROZEN_SEEDS.read_text())
    return (f"Trained {len(s['seeds'])} times each on this protocol (stage-2 seeds "
            f"{min(s['seeds'])}-{max(s['seeds'])} on one stage 1, in fp32; "
            "`benchmarks/studies/2026-12-05-stage2-seeds`) and pooled from each run's interval "
            "(`analysis.across_runs`, which counts the spread between trainings as well as the "
            "test images'): "
            + _pooled(s, ("mggnet-gal", "mggnet-baseline")) + ".")


def _reflow(text: str, width: int = 95) -> str:
    """Rewrap paragraphs and list items (tables and headings stay as they are)."""
    out, block = [], []

    def flush() -> None:
        if block:
            bullet = block[0].startswith("- ")
            words = " ".join(line.strip() for line in block)[2 if bullet else 0:]
            for glued in ("Eq. ", "chapter ", "block ", "Chapter "):  # never split these
                words = words.replace(glued, glued[:-1] + "\0")
            lines = textwrap.wrap(words, width - (2 if bullet else 0), break_on_hyphens=False,
                                  break_long_words=False)
            out.extend(("- " if bullet and i == 0 else "  " if bullet else "")
                       + line.replace("\0", " ") for i, line in enumerate(lines))
            block.clear()

    for line in text.splitlines():
        if not line.strip() or line.startswith(("|", "#")):
            flush()
            out.append(line)
        else:
            if line.startswith("- "):
                flush()
            block.append(line)
    flush()
    return "\n".join(out) + "\n"


def render(r: dict) -> str:
    """The section, from the results file's contents."""
    return _reflow(_intro(r) + _masks(r) + _affinities(r) + _hidden(r) + _table3(r)) + "\n"


def split_readme(text: str) -> tuple[str, str, str]:
    """README text -> (before the section, the section, from the next heading on)."""
    start = text.index(HEADING)
    end = text.index("\n## ", start + len(HEADING)) + 1
    return text[:start], text[start:end], text[end:]


def main(argv: list[str]) -> int:
    readme = REPO / "README.md"
    before, section, after = split_readme(readme.read_text(encoding="utf-8"))
    new = render(json.loads(RESULTS.read_text(encoding="utf-8")))
    if "--check" in argv:
        if section != new:
            print("README.md's figures differ from book-quick-targets.json or the seeds files: run "
                  "python benchmarks/readme_figures.py")
            return 1
        return 0
    readme.write_text(before + new + after, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
