"""Training checkpoints: atomic writes, safe loads, loud mismatches (ARCHITECTURE.md, "Rules").

* **Atomic**: a checkpoint is written to a temporary file in the same folder, flushed and
  fsynced, then ``os.replace``-d over the old one, so a crash or a kill while saving never
  leaves a half-written ``last.pt`` (the old one stays until the new one is complete).
* **Safe**: loading uses ``torch.load(weights_only=True)``, which unpickles only tensors and
  plain containers; a file whose pickle would construct anything else (and so could run
  code) is refused before any of it runs. That is also why RNG states are stored as
  tensors (``torch.get_rng_state()``), never as numpy / ``random`` objects.
* **Loud**: every checkpoint carries its ``format``, the ``mggnet_lite`` version and the
  training config; a checkpoint from another version or config is refused with a message
  listing each difference (key, ours vs the checkpoint's) -- the UvA-notebooks failure
  mode of a checkpoint that silently stops matching the code.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..files import atomic_writer

FORMAT = "mggnet-lite-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, unsafe, or made by other code/config."""


def atomic_save(obj: Any, path: str | os.PathLike, what: str = "a checkpoint") -> Path:
    """``torch.save(obj)`` to ``path`` atomically: temp file in the same folder, fsync, rename.

    The bytes are serialised in memory first, so a full disk surfaces as an ``OSError`` with
    its errno (a :class:`~mggnet_lite.files.DiskFullError` naming ``path`` and the free space),
    not as the zip writer's bare "file write failed"; the previous file stays as it was.
    """
    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_writer(path, "wb", what=what) as f:
        f.write(buf.getbuffer())
    return Path(path)


def rng_state() -> dict[str, Any]:
    """Torch RNG states as tensors (CPU generator and every CUDA device)."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` saved (CUDA states only where devices match)."""
    torch.set_rng_state(state["cpu"])
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def make_checkpoint(config: Mapping[str, Any], **payload: Any) -> dict[str, Any]:
    """A checkpoint dict: format header, package version, config, then ``payload``."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "mggnet_lite": __version__,
        "config": dict(config),
        **payload,
    }


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` and check its header and version.

    Raises :class:`CheckpointError` for a missing file, an unsafe or corrupt pickle, a file
    that is not an mggnet-lite checkpoint, or one written by another package version.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; its index is at the end
        raise CheckpointError(
            f"{path} is truncated or is not a checkpoint: its {path.stat().st_size} bytes do not "
            "end in a complete torch.save archive (a copy or a disk that was cut short?). Copy it "
            "again, resume from another checkpoint of the run (epoch_XX.pt), or retrain."
        )
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle.UnpicklingError for forbidden globals, EOFError ...
        first = str(err).splitlines()[0] if str(err) else ""
        raise CheckpointError(
            f"refusing to load {path}: it is not a safe, complete mggnet-lite checkpoint "
            f"({type(err).__name__}: {first}). Checkpoints are read with "
            "torch.load(weights_only=True), which loads tensors and plain containers only and "
            "never runs code from the file."
        ) from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        what = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(
            f"{path} is not an mggnet-lite training checkpoint (format {what!r}, expected "
            f"{FORMAT!r}); a plain state dict can be passed as weights=... instead"
        )
    diffs = []
    if ckpt.get("format_version") != FORMAT_VERSION:
        diffs.append(("format_version", FORMAT_VERSION, ckpt.get("format_version")))
    if ckpt.get("mggnet_lite") != __version__:
        diffs.append(("mggnet_lite version", __version__, ckpt.get("mggnet_lite")))
    if diffs:
        raise CheckpointError(
            f"{path} was written by other code:\n{format_diffs(diffs)}\n"
            "Evaluate it with the mggnet_lite version that wrote it, or retrain."
        )
    return ckpt


def config_diffs(
    ours: Mapping[str, Any], theirs: Mapping[str, Any], ignore: Iterable[str] = ()
) -> list[tuple[str, Any, Any]]:
    """(key, ours, theirs) for every key whose value differs (missing keys show ``<absent>``)."""
    skip = set(ignore)
    missing = "<absent>"
    return [
        (k, ours.get(k, missing), theirs.get(k, missing))
        for k in sorted(set(ours) | set(theirs))
        if k not in skip and ours.get(k, missing) != theirs.get(k, missing)
    ]


def format_diffs(diffs: Iterable[tuple[str, Any, Any]]) -> str:
    """One line per difference: ``key: ours=... checkpoint=...``."""
    return "\n".join(f"  {k}: ours={a!r}  checkpoint={b!r}" for k, a, b in diffs)


def check_config(
    ckpt: Mapping[str, Any],
    config: Mapping[str, Any],
    path: str | os.PathLike,
    ignore: Iterable[str] = (),
    action: str = "resume from",
) -> None:
    """Refuse a checkpoint whose config differs from ours (except ``ignore``), naming every
    difference; ``action`` says what was refused (``"resume from"``, ``"reuse"``)."""
    diffs = config_diffs(config, ckpt.get("config", {}), ignore)
    if diffs:
        raise CheckpointError(
            f"cannot {action} {path}: it was trained with another config "
            f"({len(diffs)} difference{'s' if len(diffs) > 1 else ''}):\n{format_diffs(diffs)}\n"
            "Use the same settings (see config.json in the run folder), or start a new run in "
            "another --out folder."
        )


def load_model(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The one way back from a run to a model: ``(model in eval mode, checkpoint)``.

    ``path`` is a run folder (its ``last.pt``) or a checkpoint file. The file is read with
    :func:`load_checkpoint` (``weights_only=True``, format and version checked); the model is
    rebuilt untrained from the checkpoint's ``model_config`` (or its training config for older
    runs) and its weights loaded, so a mismatch is a :class:`CheckpointError` naming the file.
    """
    from ..nn.mggnet import MGGNet, build_model

    path = Path(path)
    ckpt_path = path / "last.pt" if path.is_dir() else path
    ckpt = load_checkpoint(ckpt_path, map_location=map_location)
    cfg = ckpt.get("config", {})
    try:
        if ckpt.get("model_config"):
            model = MGGNet.from_config(ckpt["model_config"])
        else:
            model = build_model(cfg["variant"], cfg["backbone"], None)
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(
            f"{ckpt_path}: weights do not fit the model its config describes: {first}"
        ) from err
    return model.eval(), ckpt


# ----------------------------------------------------------------------------- what a run is


def data_info(
    data: str | os.PathLike, dataset: str, splits: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Name, path and split sizes of the data; SynthFaces also gives its seed and version.

    ``name`` is ``"SynthFaces"`` whenever the folder holds SynthFaces' metadata file, so a
    result on the synthetic set can never be labelled CelebA.
    """
    from ..data.synthfaces.writer import META_FILE, is_synthfaces

    root = Path(data).expanduser().resolve()
    info: dict[str, Any] = {
        "name": DATA_NAMES.get(dataset, dataset),
        "path": str(root),
        "dataset_reader": dataset,
        "synthetic": False,
    }
    if is_synthfaces(root):
        meta = json.loads((root / META_FILE).read_text())
        info.update(name="SynthFaces", synthetic=True, seed=meta.get("seed"),
                    generator_version=meta.get("generator_version"), n=meta.get("n"),
                    split_sizes=meta.get("split_sizes"))
    if splits:
        info["split_sizes"] = {**(info.get("split_sizes") or {}),
                               **{k: len(v) for k, v in splits.items()}}
    return info


DATA_NAMES = {"celeba": "CelebA", "lfwa": "LFWA"}


def read_run(run: str | os.PathLike) -> dict[str, Any]:
    """What a run folder (or one of its checkpoints) says about itself: model, checkpoint,
    config, data, test results.

    ``results`` is the folder's ``results.json`` only for the run folder or its ``last.pt``,
    the checkpoint those results were measured on (an ``epoch_XX.pt`` has none). ``data``
    comes from those results, else from the data folder the checkpoint records
    (:func:`data_info`), else it is unknown (``synthetic`` None).
    """
    from .folder import RunFolder

    run = Path(run)
    model, ckpt = load_model(run)
    folder = RunFolder(run if run.is_dir() else run.parent)
    final = run.is_dir() or run.resolve() == folder.checkpoint.resolve()
    results = folder.read_results() if final else None
    cfg = ckpt.get("config", {})
    if results and results.get("data"):
        data = dict(results["data"])
    elif ckpt.get("data") and Path(ckpt["data"]).is_dir():
        data = data_info(ckpt["data"], cfg.get("dataset", "celeba"))
    else:
        data = {"name": "unknown", "path": ckpt.get("data"), "synthetic": None}
    return {"run": str(run), "model": model, "checkpoint": ckpt, "config": cfg,
            "results": results, "data": data}


def _celeba_limits() -> list[str]:
    from ..data.synthfaces.labels import CELEBA_POSITIVE_RATES as r

    return [
        "CelebA's 40 labels were given by annotators and are noisy; subjective ones "
        "(Attractive, Oval_Face, Big_Nose, Heavy_Makeup) disagree between annotators.",
        f"CelebA is photographs of celebrities: {r['Young']:.0f}% are labelled Young and "
        f"{r['Male']:.0f}% Male; darker-skinned people, older people, children and people "
        "outside Western media are under-represented, and Male is a binary label of perceived "
        "gender. Accuracy for under-represented groups is expected to be lower and was not "
        "measured (the paper's reference [16], Gong et al., ECCV 2020, studies such bias).",
    ]


def limits(info: Mapping[str, Any]) -> list[str]:
    """A run's own limits (``info`` from :func:`read_run`), one sentence a line: printed with
    its predictions and written into its model card."""
    cfg, data, res = info["config"], info["data"], info["results"]
    size = cfg.get("image_size")
    n = (data.get("split_sizes") or {}).get("train")
    on = f"{data['name']}" + (f" (train split, {n} images)" if n else "")
    epochs = cfg.get("epochs_at_lr", 0) + cfg.get("epochs_at_low_lr", 0)
    lines = [
        f"Trained on {on} at {size} x {size} px: {cfg.get('variant')} / {cfg.get('backbone')}, "
        f"{epochs} epoch{'s' if epochs != 1 else ''}."
    ]
    if res:
        lines.append(
            f"Test ({res.get('split')}, n={res.get('n')}): mean accuracy "
            f"{res['mean_accuracy']:.2f}%, mean balanced accuracy "
            f"{res['mean_balanced_accuracy']:.2f}%, against "
            f"{res['majority_class']['mean_accuracy']:.2f}% for always answering each "
            "attribute's majority class."
        )
    if data.get("synthetic"):
        lines.append(
            "This model was trained on SynthFaces, rendered cartoon faces: its answers on real "
            "photographs mean nothing. Train on CelebA for real predictions."
        )
    elif data.get("synthetic") is None:
        lines.append("The training data of this run is not recorded: treat its answers with care.")
    else:
        lines += _celeba_limits()
    return lines
