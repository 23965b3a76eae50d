"""Attributes of the faces in your own photos, with the model's group masks and graph.

``python -m mggnet_lite predict IMAGE... --run RUN_DIR [--json FILE] [--explain DIR]``

Each image is decoded (EXIF orientation, any PIL mode, large files reduced), every face is
found and aligned like CelebA (:mod:`mggnet_lite.deploy.faces`), and the aligned 178 x 218 crop
goes through exactly the loader's PIL transform (bilinear resize to the run's image size,
ImageNet normalisation; :mod:`mggnet_lite.data.loader`). Printed per face: the attributes
with probability at least :data:`mggnet_lite.metrics.THRESHOLD` (0.5, Eq. 4), grouped by the part-based groups of Sec. 3.1. The
model's own limits (its data, its size, SynthFaces or CelebA) are printed with the result.

``--explain DIR`` writes one PNG per face: the aligned crop and the top attributes, the
group masks of each block over the crop (Eq. 1, drawn as chapter 2 draws them with
:func:`mggnet_lite.viz.show_attention_masks`) and the affinity matrix of each block
(Eq. 2, :func:`mggnet_lite.viz.plot_affinity`). A file that cannot be read gets an
``error`` entry, the other files are still processed, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..files import atomic_write_json
from ..metrics import THRESHOLD

#: errors of a single file: it is reported and skipped, the others go on
FILE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


@dataclass
class Predictor:
    """A trained run ready for photos: the model (eval mode, on ``device``) and what the run
    says about itself (:func:`mggnet_lite.training.checkpoint.read_run`)."""

    model: torch.nn.Module
    info: dict[str, Any]
    device: torch.device

    @classmethod
    def load(cls, run: str | Path, device: str = "cpu") -> Predictor:
        """Load ``run`` (a run folder or checkpoint) onto ``device`` (``auto``: CUDA if any)."""
        from ..training.checkpoint import read_run
        from ..training.runtime import resolve_device

        info = read_run(run)
        dev = resolve_device(device)
        return cls(info["model"].to(dev).eval(), info, dev)

    @property
    def image_size(self) -> int:
        return int(self.info["config"]["image_size"])

    def limits(self) -> list[str]:
        """The model's own limits (:func:`mggnet_lite.training.checkpoint.limits`)."""
        from ..training.checkpoint import limits

        return limits(self.info)


def to_batch(crops: list[Image.Image], image_size: int) -> torch.Tensor:
    """(N, 3, S, S) float: each crop resized and normalised exactly as in training (the PIL
    path of :mod:`mggnet_lite.data.loader`, called, not re-written; no flip)."""
    from ..data.loader import pil_to_tensor

    return torch.stack([pil_to_tensor(c.convert("RGB"), image_size) for c in crops])


@torch.inference_mode()
def predict_crops(predictor: Predictor, crops: list[Image.Image]) -> dict[str, Any]:
    """Model outputs for aligned crops, as numpy: ``probs`` (N, 40), ``masks`` {block:
    (N, K, h, w)}, ``affinity`` {block: (N, K, K)} (Eqs. 4, 1, 2)."""
    if not crops:
        return {
            "probs": np.zeros((0, len(predictor.model.attributes))),
            "masks": {},
            "affinity": {},
        }
    x = to_batch(crops, predictor.image_size)
    out = predictor.model(x.to(predictor.device))
    return {
        "probs": out.probs.float().cpu().numpy(),
        "masks": {b: m.float().cpu().numpy() for b, m in out.masks.items()},
        "affinity": {b: e.float().cpu().numpy() for b, e in out.affinity.items()},
    }


def grouped(
    probs: dict[str, float], groups: dict[str, Any], threshold: float = THRESHOLD
) -> dict[str, dict[str, float]]:
    """Per group (Sec. 3.1), its attributes at or above ``threshold`` (predicted present, as
    :class:`~mggnet_lite.metrics.AttributeMetrics` counts them), most probable first."""
    return {
        g: dict(
            sorted(((a, probs[a]) for a in members if probs[a] >= threshold), key=lambda kv: -kv[1])
        )
        for g, members in groups.items()
    }


def predict_image(
    predictor: Predictor, path: str | Path, threshold: float = THRESHOLD
) -> tuple[dict[str, Any], list[Any], dict[str, Any]]:
    """``(entry, faces, outputs)`` for one file: ``entry`` is its ``--json`` record (with
    ``error`` when it cannot be read), ``faces`` the :class:`mggnet_lite.deploy.faces.Face` list,
    ``outputs`` :func:`predict_crops` of their crops."""
    from .faces import faces_in, load_image

    try:
        loaded = load_image(path)
    except FILE_ERRORS as err:
        return _failed(predictor, path, f"cannot read {path}: {type(err).__name__}: {err}")
    try:
        faces = faces_in(loaded)
    except ValueError as err:  # a face whose alignment cannot be computed
        return _failed(predictor, path, f"cannot align a face in {path}: {err}")
    outputs = predict_crops(predictor, [f.crop for f in faces])
    names = list(predictor.model.attributes)
    records = []
    for face, p in zip(faces, outputs["probs"], strict=True):
        probs = {a: round(float(v), 4) for a, v in zip(names, p, strict=True)}
        records.append(
            {
                **face.to_json(),
                "probabilities": probs,
                "groups": grouped(probs, predictor.model.groups, threshold),
            }
        )
    return {"path": str(path), "faces": records}, faces, outputs


def _failed(predictor: Predictor, path: str | Path, msg: str
            ) -> tuple[dict[str, Any], list[Any], dict[str, Any]]:
    return {"path": str(path), "faces": [], "error": msg}, [], predict_crops(predictor, [])


def format_entry(entry: dict[str, Any]) -> str:
    """The printed form of one image's record."""
    if "error" in entry:
        return f"{entry['path']}: ERROR {entry['error']}"
    n = len(entry["faces"])
    lines = [f"{entry['path']}: {n} face{'s' if n != 1 else ''}"]
    for i, face in enumerate(entry["faces"], 1):
        (lx, ly), (rx, ry) = face["landmarks"]["left_eye"], face["landmarks"]["right_eye"]
        eyes = f"eyes ({lx:.0f}, {ly:.0f}) ({rx:.0f}, {ry:.0f})"
        if not face["eyes_detected"]:
            eyes += " ESTIMATED from the face box (the eye detector found no pair)"
        box = ", ".join(f"{v:.0f}" for v in face["box"])
        lines.append(f"  face {i} at [{box}], {eyes}")
        for group, attrs in face["groups"].items():
            shown = ", ".join(f"{a} {p:.2f}" for a, p in attrs.items()) or "-"
            lines.append(f"    {group:<12} {shown}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- pictures


def _render(fig: Any) -> Image.Image:
    """A matplotlib figure as an RGB image (Agg, whatever the backend), then closed."""
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    img = Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB")
    plt.close(fig)
    return img


def _top_panel(
    crop: Image.Image,
    probs: np.ndarray,
    attributes: list[str],
    groups: dict[str, Any],
    top: int,
    title: str | None,
) -> Any:
    """The aligned crop beside a bar chart of the ``top`` most probable attributes."""
    import matplotlib.pyplot as plt

    from ..viz import GROUP_COLOURS

    group_of = {a: g for g, members in groups.items() for a in members}
    order = np.argsort(-probs)[:top][::-1]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3.6), width_ratios=(1, 2.2), dpi=80)
    ax0.imshow(np.asarray(crop))
    ax0.set_title("aligned like CelebA (178 x 218)", fontsize=9)
    ax0.set_axis_off()
    names = [attributes[i] for i in order]
    colours = [GROUP_COLOURS.get(group_of.get(a, ""), "#777777") for a in names]
    ax1.barh(range(len(order)), probs[order], color=colours)
    ax1.set_yticks(range(len(order)), [f"{a} ({group_of.get(a, '?')})" for a in names], fontsize=8)
    ax1.axvline(THRESHOLD, color="k", lw=0.8, ls="--")
    ax1.set_xlim(0, 1)
    ax1.set_xlabel("probability (Eq. 4)")
    ax1.set_title(title or "top attributes", fontsize=9)
    fig.tight_layout()
    return fig


def explain_figure(
    crop: Image.Image,
    probs: np.ndarray,
    masks: dict[str, np.ndarray],
    affinity: dict[str, np.ndarray],
    *,
    attributes: list[str],
    groups: dict[str, Any],
    node_names: list[str] | None = None,
    top: int = 10,
    title: str | None = None,
) -> Image.Image:
    """One face explained, as one RGB picture (what ``--explain`` writes; chapter 7 shows it).

    Top to bottom: the aligned crop and the ``top`` attributes; the masks ``{block:
    (K, h, w)}`` of each block over the crop (chapter 2's
    :func:`~mggnet_lite.viz.show_attention_masks`); the affinities ``{block: (K, K)}``
    (chapter 3's :func:`~mggnet_lite.viz.plot_affinity`). Blocks without masks or
    affinities (the baseline, ``gal``) just have fewer panels.
    """
    from .. import viz

    names = list(node_names or groups)
    panels = [_render(_top_panel(crop, np.asarray(probs), attributes, groups, top, title))]
    if masks:
        fig = viz.show_attention_masks(
            np.asarray(crop), masks, names, title="group masks M_i of each block (Eq. 1)"
        )
        fig.set_dpi(80)
        panels.append(_render(fig))
    if affinity:
        fig = viz.plot_affinity(affinity, names, title="affinity e_ij of each block (Eq. 2)")
        fig.set_dpi(80)
        panels.append(_render(fig))
    width = max(p.width for p in panels)
    out = Image.new("RGB", (width, sum(p.height for p in panels)), "white")
    y = 0
    for p in panels:
        out.paste(p, ((width - p.width) // 2, y))
        y += p.height
    return out


def explain_face(
    predictor: Predictor,
    outputs: dict[str, Any],
    index: int,
    crop: Image.Image,
    title: str | None = None,
) -> Image.Image:
    """:func:`explain_figure` of face ``index`` of :func:`predict_crops`' ``outputs``."""
    m = predictor.model
    return explain_figure(
        crop,
        outputs["probs"][index],
        {b: v[index] for b, v in outputs["masks"].items()},
        {b: v[index] for b, v in outputs["affinity"].items()},
        attributes=list(m.attributes),
        groups=m.groups,
        node_names=list(m.node_names),
        title=title,
    )


# ----------------------------------------------------------------------------- CLI


def _caption(predictor: Predictor, path: str | Path, index: int) -> str:
    note = (
        " (SynthFaces model: meaningless on photos)"
        if predictor.info["data"].get("synthetic")
        else ""
    )
    return f"{Path(path).name}, face {index + 1}{note}"


def run_predict(
    paths: list[str],
    predictor: Predictor,
    *,
    json_out: str | None = None,
    explain: str | None = None,
    threshold: float = THRESHOLD,
) -> int:
    """Predict for every path (printing as it goes); returns 1 if any file failed, else 0."""
    print("Model: " + "\n       ".join(predictor.limits()))
    images, failed, used = [], False, set()
    for path in paths:
        entry, faces, outputs = predict_image(predictor, path, threshold)
        images.append(entry)
        print(format_entry(entry))
        if "error" in entry:
            failed = True
            print(f"predict: error: {entry['error']}", file=sys.stderr)
        elif not faces:
            print(f"predict: no face found in {path}", file=sys.stderr)
        for i, face in enumerate(faces):
            if explain is None:
                continue
            name = f"{Path(path).stem}_face{i + 1}"
            while name in used:  # two inputs with the same file name
                name += "_"
            used.add(name)
            img = explain_face(predictor, outputs, i, face.crop, _caption(predictor, path, i))
            Path(explain).mkdir(parents=True, exist_ok=True)
            img.save(Path(explain) / f"{name}.png")
            print(f"  wrote {Path(explain) / f'{name}.png'}")
    if json_out is not None:
        doc = {
            "model": {
                "run": predictor.info["run"],
                "data": predictor.info["data"],
                "image_size": predictor.image_size,
                "limits": predictor.limits(),
            },
            "threshold": threshold,
            "images": images,
        }
        atomic_write_json(json_out, doc, what="the predictions")
        print(f"wrote {json_out}")
    return 1 if failed else 0


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m mggnet_lite predict``."""
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="photos (any PIL format)")
    parser.add_argument(
        "--run",
        required=True,
        metavar="RUN_DIR",
        help="a training run folder (its last.pt) or a checkpoint",
    )
    parser.add_argument("--json", metavar="FILE", default=None, help="write the results here")
    parser.add_argument(
        "--explain",
        metavar="DIR",
        default=None,
        help="write one PNG per face: crop, masks, affinities, top attributes",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=THRESHOLD,
        help=f"print attributes at or above this probability (default {THRESHOLD})",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")


def cli_main(args: argparse.Namespace) -> int:
    """Load the run, then :func:`run_predict`; 2 if the run or the face detector cannot be
    loaded (before or while reading the photos)."""
    from ..training.checkpoint import CheckpointError
    from .faces import DetectorError, require_opencv

    try:
        predictor = Predictor.load(args.run, args.device)
        require_opencv()
        return run_predict(args.images, predictor, json_out=args.json, explain=args.explain,
                           threshold=args.threshold)
    except (CheckpointError, DetectorError, ImportError, ValueError, OSError) as err:
        print(f"predict: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m mggnet_lite.deploy.predict", description=__doc__)
    configure_parser(parser)
    sys.exit(cli_main(parser.parse_args()))
