"""Small helpers the book's chapters share (ARCHITECTURE.md, "The book"): the banner, the
data, the device.

Every chapter starts with :func:`banner`, which says which profile it runs in
(``MGGNET_PROFILE=quick|full``; quick unless a GPU *and* real data are present, see
:func:`mggnet_lite.training.config.choose_profile`), on which device, and on which data:

* no ``MGGNET_DATA``: SynthFaces, rendered once by :func:`book_data` into
  ``<repo>/data/synthfaces-<n>-<seed>/`` (or ``$MGGNET_BOOK_CACHE``) and reused after;
* ``MGGNET_DATA=/path/to/celeba``: that folder (any CelebA layout the readers know).

Also here: :func:`trained_model` ("load the run if it is there, else train it", in
``runs/book/``), the per-image predictions and table layout of chapter 6
(:func:`eval_predictions`, :func:`format_grid`), and notebook hygiene::

    python -m mggnet_lite.book strip book/*.ipynb    # clear outputs, keep nbval's references
    python -m mggnet_lite.book record book/02_group_attention.ipynb   # re-run, refresh them
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .data.synthfaces.writer import is_synthfaces
from .files import user_cache_dir
from .training.config import choose_profile, make_config
from .training.runtime import has_gpu, machine_info

#: SynthFaces seed used by the book (the trainer's default too).
BOOK_SEED = 0


def repo_root() -> Path | None:
    """The source checkout holding this package, or None for an installed package."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def cache_dir() -> Path:
    """Where the book keeps generated data: ``$MGGNET_BOOK_CACHE``, else ``<repo>/data``
    (git-ignored), else this user's cache (:func:`~mggnet_lite.files.user_cache_dir`)."""
    env = os.environ.get("MGGNET_BOOK_CACHE")
    if env:
        return Path(env).expanduser()
    root = repo_root()
    return root / "data" if root is not None else user_cache_dir()


def real_data_root() -> Path | None:
    """``$MGGNET_DATA`` as a Path when it is set, else None."""
    env = os.environ.get("MGGNET_DATA")
    return Path(env).expanduser().resolve() if env else None


def profile() -> str:
    """``$MGGNET_PROFILE`` when set; else ``full`` with a GPU and real data, ``quick``
    otherwise. Unlike the trainer, the book never moves a reader to the ``synth`` profile
    (SynthFaces at 100,000 images, 224 px) unasked, e.g. on a Colab GPU: they set
    ``MGGNET_PROFILE=synth`` for it (the banner says so)."""
    if os.environ.get("MGGNET_PROFILE"):
        return choose_profile(None)
    data = real_data_root()
    chosen = choose_profile(None, str(data) if data else None)
    return "quick" if chosen == "synth" else chosen


def device() -> torch.device:
    """The device a chapter computes on: the GPU in the full and synth profiles."""
    if profile() != "quick" and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def default_synth_n() -> int:
    """How many SynthFaces images the book uses in this profile (the trainer's ``synth_n``)."""
    cfg = make_config(profile())
    return cfg.synth_n if profile() != "full" else max(cfg.synth_n, 20_000)


def default_occlusion() -> dict[str, float] | None:
    """The occlusion shares of this profile's SynthFaces set (``TrainConfig.synth_occlusion``)."""
    return make_config(profile()).synth_occlusion


def synth_root(n: int | None = None, seed: int = BOOK_SEED,
               occlusion: dict[str, float] | None = None) -> Path:
    """The folder :func:`book_data` renders SynthFaces into (it may not exist yet); ``n=None``:
    this profile's size and occlusion."""
    from .training.run import synth_name

    if n is None:
        n, occlusion = default_synth_n(), default_occlusion()
    return cache_dir() / synth_name(int(n), seed, occlusion)


def synthfaces(n: int | None = None, seed: int = BOOK_SEED, *, progress: bool = False) -> Path:
    """A SynthFaces set of ``n`` images (default: this profile's size and occlusion; a given
    ``n`` has none), whatever ``MGGNET_DATA`` says: rendered once into :func:`synth_root`,
    reused afterwards (``synthesize`` checks the folder's ``synthfaces.json``: same version,
    ``n``, seed and occlusion). The first call takes about 15 s of CPU time per 1,000 images
    (all cores are used)."""
    from .data.synthfaces import synthesize

    occlusion = default_occlusion() if n is None else None
    n = default_synth_n() if n is None else int(n)
    return synthesize(synth_root(n, seed, occlusion), n=n, seed=seed, progress=progress,
                      occlusion=occlusion)


def book_data(n: int | None = None, seed: int = BOOK_SEED, *, progress: bool = False) -> Path:
    """The data root the book reads: ``$MGGNET_DATA`` when set, else :func:`synthfaces`."""
    real = real_data_root()
    if real is not None:
        if not real.is_dir():
            raise FileNotFoundError(
                f"MGGNET_DATA={real} is not a folder: point it at your CelebA folder "
                "(see chapter 1, 'Your own data'), or unset it to use SynthFaces"
            )
        return real
    return synthfaces(n, seed, progress=progress)


def uses_synthfaces(root: str | os.PathLike | None = None) -> bool:
    """True when the book's data (or ``root``) is a SynthFaces set."""
    if root is None:
        real = real_data_root()
        return real is None or is_synthfaces(real)
    return is_synthfaces(root)


@dataclass(frozen=True)
class BookInfo:
    """What :func:`banner` printed, for the chapter to reuse."""

    profile: str
    device: torch.device
    data: Path
    synthfaces: bool


#: when :func:`banner` last ran in this kernel: the start of the chapter's clock
_chapter_started: list[float] = []


def banner(chapter: str | None = None) -> BookInfo:
    """Print the profile, device and data this chapter runs on; return them. Also starts the
    chapter's clock, which :func:`chapter_time` reads in the chapter's last cell.

    Does not render any data: ``data`` is where :func:`book_data` reads or will write it.
    """
    _chapter_started[:] = [time.perf_counter()]
    prof = profile()
    dev = device()
    real = real_data_root()
    data = real if real is not None else synth_root()
    synth = uses_synthfaces()
    why = ("from MGGNET_PROFILE" if os.environ.get("MGGNET_PROFILE")
           else "default: " + {"full": "GPU and real data found"}.get(
               prof, f"no real data: SynthFaces, {default_synth_n():,} images, in minutes; "
               "MGGNET_PROFILE=synth (SynthFaces at scale, GPU) or MGGNET_DATA=CELEBA_DIR "
               "(CelebA, full profile) to choose" if has_gpu() else "no GPU"))
    if real is None:
        occ = default_occlusion()
        hidden = (", " + " / ".join(f"{g} hidden in {100 * v:.0f}%" for g, v in occ.items())
                  if occ else "")
        where = (f"SynthFaces, {default_synth_n()} images, seed {BOOK_SEED}{hidden} (built in), "
                 f"at {data}")
        if not is_synthfaces(data):
            where += " (rendered on first use)"
    else:
        where = f"{'SynthFaces' if synth else 'real data'} from MGGNET_DATA={data}"
    if dev.type == "cuda":
        dev_text = f"cuda ({torch.cuda.get_device_name(dev)})"
    else:
        dev_text = f"cpu ({torch.get_num_threads()} threads)"
    title = f"mggnet-lite {__version__}" + (f" | {chapter}" if chapter else "")
    print(title)
    print(f"  profile : {prof} ({why})")
    print(f"  device  : {dev_text}")
    print(f"  data    : {where}")
    print(f"  python  : {sys.executable}, torch {torch.__version__}")
    return BookInfo(prof, dev, data, synth)


def chapter_time() -> dict[str, Any]:
    """What the time note at the top of a chapter quotes: the wall-clock seconds since this
    kernel's :func:`banner` (the chapter's first code cell) and the machine they were measured
    on (:func:`~mggnet_lite.training.runtime.machine_info`'s name). The chapter's last cell
    glues both (``myst_nb.glue``), so the note says what this very build measured."""
    if not _chapter_started:
        raise RuntimeError("book.banner() starts the chapter's clock: call it first")
    return {"seconds": time.perf_counter() - _chapter_started[0],
            "machine": machine_info(device())["name"]}


# --------------------------------------------------------------------------------------
# Notebook hygiene: stripped in git, except the reference outputs nbval checks.
# --------------------------------------------------------------------------------------
#
# nbval compares a cell marked ``# NBVAL_CHECK_OUTPUT`` only when the notebook stores a
# reference output for it (a cell with no execution count is "unrun" and is not compared).
# So the committed notebooks keep exactly those reference outputs -- plain text, no
# images, no widget state -- and nothing else. ``python -m mggnet_lite.book strip`` and
# ``record`` maintain that; tests/test_book.py enforces it.

CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
_TEXT_MIME = {"text/plain"}


def is_checked_cell(cell) -> bool:
    """True for a code cell whose first line is ``# NBVAL_CHECK_OUTPUT``."""
    src = cell.get("source", "")
    src = "".join(src) if isinstance(src, list) else src
    return cell.get("cell_type") == "code" and src.lstrip().startswith(CHECK_MARK)


def strip_notebook(nb, *, keep_checked: bool = True):
    """Remove outputs, execution counts and widget state in place; with ``keep_checked``,
    the text outputs of ``# NBVAL_CHECK_OUTPUT`` cells stay as nbval's reference."""
    nb.get("metadata", {}).pop("widgets", None)
    count = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            cell.get("metadata", {}).pop("execution", None)
            continue
        cell.get("metadata", {}).pop("execution", None)
        keep = keep_checked and is_checked_cell(cell) and cell.get("outputs")
        if keep:
            outs = []
            for out in cell["outputs"]:
                if out.get("output_type") == "stream" and out.get("name") == "stdout":
                    outs.append(out)
                elif out.get("output_type") == "execute_result":
                    data = {k: v for k, v in out.get("data", {}).items() if k in _TEXT_MIME}
                    if data:
                        out["data"], out["metadata"] = data, {}
                        outs.append(out)
            count += 1
            cell["outputs"] = outs
            cell["execution_count"] = count if outs else None
            for out in outs:
                if "execution_count" in out:
                    out["execution_count"] = count
        else:
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


def record_notebook(path: str | os.PathLike, timeout: int = 1800) -> float:
    """Run a chapter top to bottom in a fresh kernel (this Python), keep the reference
    outputs of its checked cells, strip the rest, write it back. Returns the seconds taken."""
    import time

    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - t0
    nbformat.write(strip_notebook(nb), path)
    return seconds


def _main(argv: list[str] | None = None) -> int:
    import argparse

    import nbformat

    p = argparse.ArgumentParser(prog="python -m mggnet_lite.book",
                                description="Keep the book's notebooks fit for git.")
    p.add_argument("command", choices=("strip", "record"),
                   help="strip: clear outputs (keeping nbval's reference outputs); "
                        "record: execute, then strip (refreshes the reference outputs)")
    p.add_argument("notebooks", nargs="+", type=Path)
    p.add_argument("--all", action="store_true", help="strip: also drop reference outputs")
    args = p.parse_args(argv)
    for path in args.notebooks:
        if args.command == "record":
            print(f"{path}: executed in {record_notebook(path):.1f} s, reference outputs kept")
        else:
            nb = nbformat.read(path, as_version=4)
            nbformat.write(strip_notebook(nb, keep_checked=not args.all), path)
            print(f"{path}: stripped")
    return 0



# --------------------------------------------------------------------------------------
# Trained models: load the run if it is there, else train it (UvA-notebooks style).
# --------------------------------------------------------------------------------------


def runs_dir() -> Path:
    """Where the book keeps its training runs: ``$MGGNET_BOOK_RUNS``, else ``<repo>/runs/book``
    (git-ignored), else ``runs`` in :func:`cache_dir`."""
    env = os.environ.get("MGGNET_BOOK_RUNS")
    if env:
        return Path(env).expanduser()
    root = repo_root()
    return root / "runs" / "book" if root is not None else cache_dir() / "runs"


def book_config(variant: str = "mggnet", **settings):
    """The training config a chapter uses: this profile's settings (``training.config.make_config``),
    the variant, then ``settings`` (any :class:`~mggnet_lite.training.config.TrainConfig` field).

    ``$MGGNET_BOOK_MAX_STEPS=N`` caps every epoch at N steps: a smoke run that exercises the
    chapters in seconds (its runs get their own folders; its numbers mean nothing).

    A profile with a pretraining stage (quick, synth) starts from the backbone that
    :func:`pretrain_folder` holds, shared by every variant and criterion: ``weights`` is
    set to its ``last.pt`` (:func:`trained_model` trains it first when it is missing)."""
    data = book_data()
    cap = os.environ.get("MGGNET_BOOK_MAX_STEPS")  # smoke runs: cap the steps of every epoch
    if cap:
        settings.setdefault("max_steps_per_epoch", int(cap))
    cfg = make_config(profile(), str(data), sets={"variant": variant, **settings})
    if cfg.pretrain and cfg.weights is None:
        cfg.weights = str(pretrain_folder(cfg) / "last.pt")
    return cfg


def pretrain_folder(cfg) -> Path:
    """The run folder of ``cfg``'s pretraining stage (:func:`~mggnet_lite.training.config.
    pretrain_config`), in :func:`runs_dir` like every other run."""
    from .training.config import pretrain_config

    return run_folder(pretrain_config(cfg))


def run_folder(cfg) -> Path:
    """``runs_dir()/<profile>-<variant>-<backbone>-<criterion>-<data>-<hash>``: the hash covers
    the whole config and the package version, so a run is only ever reused by the code and
    settings that made it; a changed profile or package trains a new run next to the old."""
    import hashlib
    import json

    data = book_data()
    key = json.dumps({"config": cfg.to_dict(), "mggnet_lite": __version__, "data": str(data)},
                     sort_keys=True, default=str)
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]
    name = f"{cfg.profile}-{cfg.variant}-{cfg.backbone}-{cfg.criterion}-{data.name}-{digest}"
    return runs_dir() / name


@contextlib.contextmanager
def _text_progress_bars(active: bool = True):
    """While active, ``tqdm.auto`` gives text bars (stderr, which the book drops) instead of
    notebook widgets: a static page cannot animate a widget, and its state would bloat it."""
    if not active:
        yield
        return
    import tqdm.auto
    import tqdm.std

    saved = tqdm.auto.tqdm
    tqdm.auto.tqdm = tqdm.std.tqdm
    try:
        yield
    finally:
        tqdm.auto.tqdm = saved


def trained_model(variant: str = "mggnet", *, progress: bool = False,
                  taps: Sequence[str] | None = None, **settings: Any
                  ) -> tuple[torch.nn.Module, dict[str, Any]]:
    """``(model, report)`` of a run with the book's config (:func:`book_config`), in
    :func:`run_folder`: loaded when it holds a finished run, resumed when it holds an
    interrupted one, trained otherwise, by the trainer's own
    :func:`~mggnet_lite.training.train.ensure_run` (its stage 1 first, by
    :func:`~mggnet_lite.training.train.ensure_pretrained`). The model is in eval mode on
    :func:`device`.

    ``taps``: the blocks GAL / GCL sit on (default both, ``paper.TAPS``); chapter 6's
    block ablation passes one (``TrainConfig.taps``, so it is in the run's hash).

    Another kernel (or ``make test`` beside ``make book``) that trains the same run first is
    waited for, then its run is loaded. A checkpoint made with another config or package
    version is refused loudly (it never silently stops matching the code); delete the run
    folder to retrain.
    """
    from .training.checkpoint import load_model
    from .training.train import ensure_pretrained, ensure_run

    if taps is not None:
        settings["taps"] = tuple(taps)
    cfg, data = book_config(variant, **settings), book_data()
    with _text_progress_bars(not progress):
        if cfg.pretrain:  # stage 1, shared: the backbone every variant starts from
            ensure_pretrained(cfg, pretrain_folder(cfg), data, progress=progress)
        folder = ensure_run(cfg, run_folder(cfg), data, progress=progress)
    model, _ = load_model(folder.checkpoint)
    return model.to(device()).eval(), folder.read_results()


def blind_groups(data: str | os.PathLike | None = None) -> tuple[str, ...]:
    """The groups chapter 3's blind network blinds: those the book's data hides on some images
    (``synthfaces.OCCLUDERS`` order; ``nn.mggnet``, ``blind``); () without occlusion."""
    from .data import synthfaces as sf

    hidden = set(sf.read_occlusion(data or book_data()).values())
    return tuple(g for g in sf.OCCLUDERS if g in hidden)


# --------------------------------------------------------------------------------------
# Chapter 6: the paper's tables beside ours, and the per-image predictions behind them
# (published numbers: mggnet_lite.paper; the paired bootstrap: mggnet_lite.analysis).
# --------------------------------------------------------------------------------------


def format_grid(title: str, columns: Sequence[str], published: Mapping[str, Mapping[str, float]],
                ours: Mapping[str, Mapping[str, float]], *, published_data: str, our_data: str,
                width: int = 14) -> str:
    """A paper table twice, same rows and columns: the published numbers, then ours, each
    under the name of the data it was measured on (never one column holding both).
    ``published`` / ``ours``: ``{row: {column: value}}``; a missing cell prints ``-``."""
    from .training.evaluate import VARIANT_NAMES

    head = f"  {'':<12}" + "".join(f"{VARIANT_NAMES.get(c, c) + ' (%)':>{width}}" for c in columns)

    def block(label, table):
        out = [f"  {label}:", head]
        for r in table:
            cells = table.get(r, {})
            out.append(f"  {r:<12}" + "".join(
                f"{cells[c]:>{width}.2f}" if c in cells else f"{'-':>{width}}" for c in columns))
        return out

    return "\n".join([title, *block(f"published, {published_data}", published),
                      *block(f"this build, {our_data} (not comparable with the rows above)", ours)])


def true_masks(split: str = "test", data: str | os.PathLike | None = None) -> torch.Tensor:
    """The true group regions of ``split``'s images (SynthFaces only), rows in the split's order:
    bool (M, 8, 218, 178), what :func:`localisation` scores the masks against. They evaluate,
    and never enter a loss (Eq. 5 has no mask term)."""
    from .data import CelebA
    from .data.synthfaces import stack_group_masks

    root = data or book_data()
    return torch.from_numpy(stack_group_masks(root, CelebA(root, split=split).filenames))


def localisation(masks: Mapping[str, torch.Tensor], truth: torch.Tensor
                 ) -> dict[str, dict[str, torch.Tensor]]:
    """Per block: how well the masks (Eq. 1) find their groups' true regions (chapters 2, 7).

    ``masks``: ``{block: (M, K, h, w)}``; ``truth``: bool (M, K, H, W). Each block gets
    ``share`` (mask mass inside the region), ``uniform`` (what a uniform mask scores: the
    region's area share), ``lift`` (their ratio, :func:`~mggnet_lite.analysis.lift`),
    ``pointing`` (share of images whose mask peak is inside the region,
    :func:`~mggnet_lite.analysis.pointing_game`), ``chance`` (a random peak's score) and
    ``ceiling`` (the best pointing game any mask of this block's h x w grid can score,
    :func:`~mggnet_lite.analysis.pointing_ceiling`)."""
    from . import analysis

    out = {}
    for b, m in masks.items():
        s = analysis.mask_scores(m, truth)  # share, pointing and area in one pass
        out[b] = {"share": s["share"], "uniform": s["area"],
                  "lift": (s["share"] / s["area"]).float(), "pointing": s["pointing"],
                  "chance": s["area"],
                  "ceiling": analysis.pointing_ceiling(truth, tuple(m.shape[-2:]))}
    return out


def format_localisation(stats: Mapping[str, Mapping[str, torch.Tensor]], names: Sequence[str],
                        title: str) -> str:
    """:func:`localisation` as a table, one row per group, then one summary line per block."""
    blocks = list(stats)
    head = f"{'group':<13}{'area %':>7}" + "".join(
        f"{b + ' lift':>13}{'peak in':>9}{'best':>6}" for b in blocks)
    rows = [title, "  (lift: mask mass inside the region over a uniform mask's; peak in: share of "
            "images whose mask maximum lies in the region, chance = area %; best: the most any "
            "mask of the block's grid can score)", head]
    for i, g in enumerate(names):
        rows.append(f"{g:<13}{100 * float(stats[blocks[0]]['uniform'][i]):>7.1f}" + "".join(
            f"{float(stats[b]['lift'][i]):>13.2f}{float(stats[b]['pointing'][i]):>9.2f}"
            f"{float(stats[b]['ceiling'][i]):>6.2f}" for b in blocks))
    for b in blocks:
        lift, hit, chance = stats[b]["lift"], stats[b]["pointing"], stats[b]["chance"]
        rows.append(
            f"{b}: lift >= 2 in {int((lift >= 2).sum())} of {len(names)} groups (best "
            f"{names[int(lift.argmax())]} {float(lift.max()):.2f}); peak in the region in at "
            f"least half the images for {int((hit >= 0.5).sum())} of {len(names)} groups, at "
            f"twice chance or more for {int((hit >= 2 * chance).sum())}; a perfect mask of this "
            f"grid could reach half for {int((stats[b]['ceiling'] >= 0.5).sum())}")
    return "\n".join(rows)


def test_outputs(model: torch.nn.Module, report: Mapping[str, Any],
                 data: str | os.PathLike | None = None, *, senders: str | None = None
                 ) -> dict[str, torch.Tensor]:
    """Per-image outputs of ``model`` on the split ``report`` was scored on (its config's image
    size and input path, no flip), all on the CPU, rows in the split's order: ``probs`` and
    ``labels`` (M, 40); per tapped block ``b``: ``gal:b`` / ``gcl:b`` (M, 40) the sigmoids of
    Y^{b,GAL} / Y^{b,GCL} (Eq. 3), ``affinity:b`` (M, K, K) and ``masks:b`` (M, K, h, w).

    ``senders="mean"``: the control of chapter 3, every GCL node sends its feature's mean over
    this split instead of the image's own (:func:`~mggnet_lite.analysis.senders_to_mean`)."""
    from . import analysis
    from .data import make_loader, resolve_loader
    from .data.synthfaces.blind import regions_for, with_regions
    from .training.evaluate import open_split

    if senders not in (None, "mean"):
        raise ValueError(f"senders={senders!r}: choose None or 'mean'")
    cfg = report["config"]
    dev = device()
    path = resolve_loader(cfg.get("loader", "auto"), dev)
    ds = open_split(data or book_data(), cfg["dataset"], report["split"])
    loader = make_loader(ds, batch_size=128, image_size=cfg["image_size"], train=False,
                         device=dev, path=path)
    regions = regions_for(model, ds, cfg["image_size"])

    def batches():  # (model's arguments, labels): a blind model also gets its regions
        for x, r, y in with_regions(loader, regions):
            yield (x,) if r is None else (x, r), y

    control = contextlib.nullcontext()
    if senders == "mean":
        means = analysis.mean_group_features(model, (args for args, _ in batches()))
        control = analysis.senders_to_mean(model, means)
    parts: dict[str, list[torch.Tensor]] = {}

    def keep(key: str, value: torch.Tensor) -> None:
        parts.setdefault(key, []).append(value.float().cpu())

    with torch.inference_mode(), control:
        for args, y in batches():
            out = model(*args)
            keep("probs", out.probs)
            keep("labels", y)
            for b, z in out.gal_logits.items():
                keep(f"gal:{b}", torch.sigmoid(z))
            for b, z in out.gcl_logits.items():
                keep(f"gcl:{b}", torch.sigmoid(z))
            for b, e in out.affinity.items():
                keep(f"affinity:{b}", e)
            for b, m in out.masks.items():
                keep(f"masks:{b}", m)
    return {k: torch.cat(v) for k, v in parts.items()}


def eval_predictions(model: torch.nn.Module, report: Mapping[str, Any],
                     data: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(probs, labels)`` of ``model`` on the split ``report`` was scored on (its config's image
    size and input path, no flip), both (M, 40) on the CPU: the per-image numbers behind its
    mean accuracy."""
    out = test_outputs(model, report, data)
    return out["probs"], out["labels"]


if __name__ == "__main__":
    raise SystemExit(_main())
