"""Export a trained run as ONNX or TorchScript, with a model card beside it.

``python -m mggnet_lite export RUN_DIR --format onnx|torchscript --out FILE
[--with-explanations]`` writes ``FILE`` (a model that takes a float (B, 3, S, S) batch,
normalised as :mod:`mggnet_lite.data.loader` does, and returns the 40 probabilities of
Eq. 4 -- plus, with ``--with-explanations``, the group masks of Eq. 1 and the affinities
of Eq. 2 of each block), ``FILE.card.md`` and ``FILE.card.json``: the data the run was
trained on, its config and schedule, its test metrics beside the majority-class rate,
versions, the input contract and the known limits (ARCHITECTURE.md, "Public contract").

The export is checked before it is written: on 16 test images of the run's data (random
normalised inputs when the data folder is gone) the exported model must match PyTorch's
outputs within ``1e-4``. ONNX needs the optional ``onnx`` and ``onnxruntime`` packages
(the ``export`` extra), imported only here and only when asked for. The ONNX graph is made
by torch's TorchScript-based exporter (``dynamo=False``), which needs no ``onnxscript``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..files import atomic_write_bytes, atomic_write_json, atomic_write_text
from ..training.checkpoint import limits, read_run

FORMATS = ("onnx", "torchscript")
SUFFIXES = {".onnx": "onnx", ".pt": "torchscript", ".ts": "torchscript", ".jit": "torchscript"}
#: what "matches" means for an export (max abs difference of every output)
TOLERANCE = 1e-4
ONNX_OPSET = 17
#: what every exported model's card says beside the run's own limits
USE_LIMIT = "Faces must be near-frontal and aligned like CelebA; the probabilities are not calibrated."


# ----------------------------------------------------------------------------- the module


class ExportModule(torch.nn.Module):
    """The network as a plain function of a normalised batch: ``probs`` (B, 40), then with
    ``explanations`` the masks (B, K, h, w) of each block and the affinities (B, K, K) of
    each block that has a GCL (Eqs. 1, 2, 4)."""

    def __init__(self, model: torch.nn.Module, explanations: bool = False) -> None:
        super().__init__()
        self.model = model
        self.explanations = explanations
        self.mask_blocks = list(model.gal.keys())
        self.affinity_blocks = list(model.gcl.keys())
        if explanations and not self.mask_blocks:
            raise ValueError(
                f"variant {model.variant!r} has no group masks or affinities to export; "
                "drop --with-explanations"
            )
        # the wrapper must be in eval mode too: torch.onnx.export restores the *wrapper's*
        # mode afterwards, recursively, which would leave a training-mode wrapper's network
        # in training mode (BatchNorm on batch statistics)
        self.eval()

    @property
    def output_names(self) -> list[str]:
        """Names of the outputs, in order."""
        if not self.explanations:
            return ["probs"]
        return (
            ["probs"]
            + [f"masks_{b}" for b in self.mask_blocks]
            + [f"affinity_{b}" for b in self.affinity_blocks]
        )

    def forward(self, x: torch.Tensor) -> Any:
        out = self.model(x)
        if not self.explanations:
            return out.probs
        return (
            out.probs,
            *[out.masks[b] for b in self.mask_blocks],
            *[out.affinity[b] for b in self.affinity_blocks],
        )


@contextmanager
def _quiet_tracing() -> Any:
    """Hide the tracer's notes on the model's Python-level input checks (they become
    constants of the graph, which is what the fixed input contract wants) and torch's
    deprecation notes for ``torch.jit.trace`` and the TorchScript-based ONNX exporter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        yield


def _onnx_modules() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError as err:
        raise ImportError(
            "ONNX export needs the optional packages onnx and onnxruntime: "
            "pip install 'mggnet-lite[export]' (or pip install onnx onnxruntime)"
        ) from err
    return onnx, onnxruntime


def to_torchscript(module: ExportModule, example: torch.Tensor, extra: dict[str, str]) -> bytes:
    """``torch.jit.trace`` of ``module`` as bytes; ``extra`` files (the card) go inside."""
    with _quiet_tracing(), torch.no_grad():
        traced = torch.jit.trace(module, example, check_trace=False)
        buf = io.BytesIO()
        torch.jit.save(traced, buf, _extra_files=extra)
    return buf.getvalue()


def to_onnx(module: ExportModule, example: torch.Tensor, metadata: dict[str, str]) -> bytes:
    """ONNX bytes of ``module`` (batch size dynamic), checked by ``onnx.checker``, with
    ``metadata`` as the model's metadata properties."""
    onnx, _ = _onnx_modules()
    names = module.output_names
    buf = io.BytesIO()
    with _quiet_tracing(), torch.no_grad():
        torch.onnx.export(
            module,
            (example,),
            buf,
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=["input"],
            output_names=names,
            dynamic_axes={n: {0: "batch"} for n in ["input", *names]},
        )
    proto = onnx.load_from_string(buf.getvalue())
    for k, v in metadata.items():
        proto.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def run_exported(data: bytes | str | Path, fmt: str, x: torch.Tensor) -> list[np.ndarray]:
    """Outputs of an exported model (bytes or file) on ``x``, as numpy arrays, in order."""
    raw = Path(data).read_bytes() if isinstance(data, (str, Path)) else data
    if fmt == "onnx":
        _, ort = _onnx_modules()
        sess = ort.InferenceSession(raw, providers=["CPUExecutionProvider"])
        return list(sess.run(None, {"input": x.numpy()}))
    with _quiet_tracing(), torch.no_grad():
        out = torch.jit.load(io.BytesIO(raw))(x)
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def check_inputs(info: dict[str, Any], n: int = 16) -> tuple[torch.Tensor, str]:
    """``n`` test images of the run's data as the loader gives them, or random normalised
    inputs (said so) when that data is not on this machine."""
    from ..data import CelebA, make_loader

    cfg, size = info["config"], int(info["config"]["image_size"])
    path = info["data"].get("path")
    try:
        if cfg.get("dataset", "celeba") != "celeba" or not path:
            raise FileNotFoundError(path)
        split = CelebA(path, "test")
        ld = make_loader(split, batch_size=n, image_size=size, train=False, path="pil")
        x, _ = next(iter(ld))
        return x, f"the first {len(x)} images of {info['data']['name']} test"
    except (OSError, ValueError, StopIteration):
        g = torch.Generator().manual_seed(0)
        return torch.randn(n, 3, size, size, generator=g), f"{n} random normalised inputs"


def max_abs_diff(ours: list[np.ndarray], ref: Any) -> float:
    """Largest absolute difference over all outputs (``ref``: a tensor or tuple of them)."""
    ref = ref if isinstance(ref, tuple) else (ref,)
    if len(ours) != len(ref):
        raise ValueError(f"the export returns {len(ours)} outputs, PyTorch {len(ref)}")
    return max(float(np.abs(a - r.detach().numpy()).max()) for a, r in zip(ours, ref, strict=True))


# ----------------------------------------------------------------------------- the card


SCHEDULE_KEYS = ("criterion", "epochs_at_lr", "epochs_at_low_lr", "lr", "low_lr", "batch_size",
                 "momentum", "weight_decay", "flip", "weights", "seed", "image_size")  # fmt: skip


def input_contract(size: int) -> dict[str, Any]:
    """What the exported model expects: shape, normalisation, resize and alignment."""
    from ..data import IMAGENET_MEAN, IMAGENET_STD
    from .faces import CANONICAL, CROP_SIZE

    return {
        "shape": ["batch", 3, size, size],
        "dtype": "float32",
        "channels": "RGB",
        "normalisation": {
            "scale": "pixel / 255",
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
        },
        "resize": f"bilinear (PIL) from the aligned {CROP_SIZE[0]} x {CROP_SIZE[1]} crop "
        f"to {size} x {size}, rounded to uint8 before normalising",
        "alignment": {
            "crop_size": list(CROP_SIZE),
            "canonical_points": CANONICAL,
            "how": "non-reflective similarity from the eye centres "
            "(mggnet_lite.deploy.faces.detect_and_align), as CelebA's align_face_celeba.m",
        },
    }


def _metrics(res: dict[str, Any]) -> dict[str, Any] | None:
    """The test metrics of ``results.json``, copied (never recomputed)."""
    if not res:
        return None
    per = res.get("per_attribute", {})
    return {
        "mean_accuracy": res["mean_accuracy"],
        "mean_balanced_accuracy": res["mean_balanced_accuracy"],
        "majority_class_mean_accuracy": res["majority_class"]["mean_accuracy"],
        "per_attribute_accuracy": {a: m["accuracy"] for a, m in per.items()},
        "per_attribute_balanced_accuracy": {a: m["balanced_accuracy"] for a, m in per.items()},
    }


def build_card(
    info: dict[str, Any], module: ExportModule, fmt: str, file: Path, check: dict[str, Any]
) -> dict[str, Any]:
    """The model card as a dict (``FILE.card.json``)."""
    from ..training.runtime import versions

    cfg, res, model = info["config"], info["results"] or {}, info["model"]
    return {
        "kind": "mggnet-lite model card",
        "file": file.name,
        "format": fmt,
        "model": {
            "variant": cfg.get("variant"),
            "backbone": cfg.get("backbone"),
            "taps": list(cfg.get("taps") or []),
            "paper": "Chen et al., ICME 2021 (MGG-Net)",
            "run": info["run"],
        },
        "data": {
            **info["data"],
            "trained_on_split": "train",
            "evaluated_on_split": res.get("split"),
            "evaluated_n": res.get("n"),
        },
        "config": dict(cfg),
        "schedule": {k: cfg.get(k) for k in SCHEDULE_KEYS},
        "metrics": _metrics(res),
        "versions": {"export": versions(), "training": res.get("versions")},
        "input": input_contract(int(cfg["image_size"])),
        "outputs": {
            "names": module.output_names,
            "attributes": list(model.attributes),
            "groups": {g: list(m) for g, m in model.groups.items()},
            "probs": "Eq. 4: mean of the base and per-block sigmoids, in [0, 1]",
        },
        "check": check,
        "intended_use": (
            "Teaching and research: reproducing MGG-Net and looking at its group masks and "
            "graph. Not for decisions about people, identification or surveillance."
        ),
        "limits": [*limits(info), USE_LIMIT],
    }


_KIND = {True: "synthetic: SynthFaces, not photographs", False: "real photographs", None: "unknown"}


def card_markdown(card: dict[str, Any]) -> str:
    """``FILE.card.md``: the card for people."""
    m, d, inp = card["metrics"], card["data"], card["input"]
    lines = [
        f"# Model card: {card['file']}",
        "",
        f"MGG-Net reproduction (mggnet-lite {__version__}), {card['model']['variant']} / "
        f"{card['model']['backbone']}, exported as {card['format']}.",
        "",
        "## Data",
        "",
        f"- trained on: **{d.get('name')}** ({_KIND[d.get('synthetic')]}), split `train`; "
        f"split sizes {d.get('split_sizes')}",
        f"- path at training time: `{d.get('path')}`",
        "",
        "## Config and schedule",
        "",
        "```json",
        json.dumps(card["schedule"], indent=1),
        "```",
        "",
    ]
    if m:
        lines += [
            "## Test metrics",
            "",
            f"On `{d.get('evaluated_on_split')}` (n={d.get('evaluated_n')}): mean accuracy "
            f"**{m['mean_accuracy']:.2f}%**, mean balanced accuracy "
            f"**{m['mean_balanced_accuracy']:.2f}%**; majority class: "
            f"{m['majority_class_mean_accuracy']:.2f}%.",
            "",
            "| attribute | accuracy (%) | balanced accuracy (%) |",
            "| --- | --- | --- |",
        ]
        lines += [
            f"| {a} | {acc:.2f} | {m['per_attribute_balanced_accuracy'][a]:.2f} |"
            for a, acc in m["per_attribute_accuracy"].items()
        ]
        lines.append("")
    v = card["versions"]["export"]
    lines += [
        "## Input contract",
        "",
        f"- shape {inp['shape']}, {inp['dtype']}, {inp['channels']}",
        f"- normalise: {inp['normalisation']['scale']}, then (x - mean) / std with mean "
        f"{inp['normalisation']['mean']}, std {inp['normalisation']['std']}",
        f"- resize: {inp['resize']}",
        f"- alignment: {inp['alignment']['how']}; canonical points "
        f"{inp['alignment']['canonical_points']} in a {inp['alignment']['crop_size']} crop",
        f"- outputs: {', '.join(card['outputs']['names'])}; `probs` in this attribute order: "
        f"{', '.join(card['outputs']['attributes'])}",
        "",
        "## Versions",
        "",
        f"- export: {v}",
        f"- training: {card['versions']['training']}",
        "",
        "## Check",
        "",
        f"- max |export - PyTorch| = {card['check']['max_abs_diff']:.3g} on "
        f"{card['check']['inputs']} (tolerance {card['check']['tolerance']})",
        "",
        "## Intended use",
        "",
        card["intended_use"],
        "",
        "## Known limits",
        "",
        *[f"- {x}" for x in card["limits"]],
        "",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- export


def export_model(
    run: str | Path,
    fmt: str,
    out: str | Path,
    *,
    with_explanations: bool = False,
    n_check: int = 16,
) -> dict[str, Any]:
    """Export ``run`` to ``out`` in ``fmt``, check it against PyTorch, write the card.

    Returns the card. Raises ``ValueError`` when the export does not match within
    :data:`TOLERANCE` (nothing is written then).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format={fmt!r}: choose one of {list(FORMATS)}")
    if fmt == "onnx":
        _onnx_modules()  # fail before any work when the extra is missing
    info = read_run(run)
    out = Path(out)
    module = ExportModule(info["model"], with_explanations)
    x, what = check_inputs(info, n_check)
    size = int(info["config"]["image_size"])
    example = torch.zeros(2, 3, size, size)
    meta = {
        "mggnet_lite": __version__,
        "attributes": json.dumps(list(info["model"].attributes)),
        "outputs": json.dumps(module.output_names),
        "image_size": str(size),
        "data": str(info["data"].get("name")),
    }
    raw = (
        to_onnx(module, example, meta)
        if fmt == "onnx"
        else to_torchscript(module, example, {"meta.json": json.dumps(meta)})
    )
    with torch.no_grad():
        ref = module(x)
    diff = max_abs_diff(run_exported(raw, fmt, x), ref)
    if not diff <= TOLERANCE:
        raise ValueError(
            f"the {fmt} export differs from PyTorch by {diff:.3g} on {what} "
            f"(tolerance {TOLERANCE}); nothing written"
        )
    check = {"max_abs_diff": diff, "inputs": what, "tolerance": TOLERANCE}
    card = build_card(info, module, fmt, out, check)
    atomic_write_bytes(out, raw, what=f"the {fmt} model")
    atomic_write_json(f"{out}.card.json", card, what="the model card")
    atomic_write_text(f"{out}.card.md", card_markdown(card), what="the model card")
    return card


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m mggnet_lite export``."""
    parser.add_argument("run", metavar="RUN_DIR", help="a training run folder (or checkpoint)")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="onnx or torchscript (default: from the suffix of --out)",
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        required=True,
        help="the model file; FILE.card.md and FILE.card.json go beside it",
    )
    parser.add_argument(
        "--with-explanations",
        action="store_true",
        help="also output the group masks and affinities of each block",
    )


def cli_main(args: argparse.Namespace) -> int:
    """Export, check, write the card; print what was written and the check."""
    from ..training.checkpoint import CheckpointError

    fmt = args.format or SUFFIXES.get(Path(args.out).suffix.lower())
    if fmt is None:
        print(
            f"export: error: cannot tell the format from {args.out!r}; pass --format "
            f"{'|'.join(FORMATS)}",
            file=sys.stderr,
        )
        return 2
    try:
        card = export_model(args.run, fmt, args.out, with_explanations=args.with_explanations)
    except (CheckpointError, ImportError, ValueError, OSError) as err:
        print(f"export: error: {err}", file=sys.stderr)
        return 2
    c = card["check"]
    print(
        f"wrote {args.out} ({fmt}; outputs {', '.join(card['outputs']['names'])}), "
        f"{args.out}.card.md, {args.out}.card.json"
    )
    print(f"check: max |{fmt} - PyTorch| = {c['max_abs_diff']:.3g} on {c['inputs']}")
    for line in card["limits"][:3]:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m mggnet_lite.deploy.export", description=__doc__)
    configure_parser(parser)
    sys.exit(cli_main(parser.parse_args()))
