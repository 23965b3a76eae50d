"""``export`` (issue [3/5], item 4): ONNX and TorchScript round trips within 1e-4 of
PyTorch on 16 test images, and a model card whose numbers are the run's ``results.json``."""

from __future__ import annotations

import argparse
import io
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from _train_helpers import TINY_SETS, synth_root

from mggnet_lite.deploy import export
from mggnet_lite.training.checkpoint import load_model


def train_tiny_run(out: Path, n: int = 168) -> Path:
    """A 2-step MGG-Net run on SynthFaces at 32 px (seconds on a CPU); n=168 gives 17 test
    images."""
    from mggnet_lite.training.config import make_config
    from mggnet_lite.training.train import train

    cfg = make_config(
        "quick",
        sets=[
            *TINY_SETS,
            "epochs_at_lr=1",
            "epochs_at_low_lr=0",
            "max_steps_per_epoch=2",
            "weights=none",
        ],
    )
    train(cfg, out, synth_root(n=n), progress=False)
    return out


def _onnx():
    """onnxruntime (after onnx): both are in the test extra, so a missing one fails here."""
    import onnx  # noqa: F401
    import onnxruntime

    return onnxruntime


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("export") / "run")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """16 test images, as the loader gives them to the network."""
    from mggnet_lite.data import CelebA, make_loader

    test = CelebA(synth_root(n=168), "test")
    x, _ = next(iter(make_loader(test, batch_size=16, image_size=32, train=False, path="pil")))
    assert len(x) == 16
    return x


@pytest.fixture(scope="module")
def reference(run, images):
    model, _ = load_model(run)
    with torch.no_grad():
        out = model(images)
    return [
        out.probs,
        out.masks["block3"],
        out.masks["block4"],
        out.affinity["block3"],
        out.affinity["block4"],
    ]


def _check_card(out: Path, run: Path, fmt: str, measured: float) -> dict:
    """The card beside ``out``: the run's own numbers, and the check the test measured itself
    (``measured``: max |export - PyTorch| on the same 16 test images)."""
    card = json.loads(Path(f"{out}.card.json").read_text())
    results = json.loads((run / "results.json").read_text())
    m = card["metrics"]
    assert m["mean_accuracy"] == results["mean_accuracy"]
    assert m["mean_balanced_accuracy"] == results["mean_balanced_accuracy"]
    assert m["majority_class_mean_accuracy"] == results["majority_class"]["mean_accuracy"]
    assert m["per_attribute_accuracy"] == {
        a: v["accuracy"] for a, v in results["per_attribute"].items()
    }
    assert card["data"]["name"] == "SynthFaces" and card["data"]["synthetic"] is True
    assert card["format"] == fmt and card["input"]["shape"] == ["batch", 3, 32, 32]
    assert card["versions"]["export"]["torch"] == torch.__version__
    assert card["check"]["inputs"] == "the first 16 images of SynthFaces test"
    assert card["check"]["max_abs_diff"] == pytest.approx(measured, rel=1e-3, abs=1e-9)
    assert card["check"]["tolerance"] == export.TOLERANCE
    md = Path(f"{out}.card.md").read_text()
    assert f"{results['mean_accuracy']:.2f}%" in md and "SynthFaces" in md
    assert "mean nothing" in md  # a SynthFaces model: its own limit, not CelebA's
    assert "under-represented" not in md
    return card


def test_onnx_round_trip_with_explanations(tmp_path, run, images, reference):
    ort = _onnx()
    out = tmp_path / "model.onnx"
    card = export.export_model(run, "onnx", out, with_explanations=True)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    assert (
        names
        == card["outputs"]["names"]
        == ["probs", "masks_block3", "masks_block4", "affinity_block3", "affinity_block4"]
    )
    got = sess.run(None, {"input": images.numpy()})
    diffs = [float(np.abs(g - r.numpy()).max()) for g, r in zip(got, reference, strict=True)]
    assert max(diffs) <= 1e-4, diffs
    _check_card(out, run, "onnx", max(diffs))


def test_torchscript_round_trip_probabilities_only(tmp_path, run, images, reference):
    out = tmp_path / "model.pt"
    parser = argparse.ArgumentParser()
    export.configure_parser(parser)
    assert export.cli_main(parser.parse_args([str(run), "--out", str(out)])) == 0  # from .pt
    with warnings.catch_warnings():  # torch >= 2.10 marks TorchScript deprecated
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(str(out))
        extra = {"meta.json": ""}
        torch.jit.load(io.BytesIO(out.read_bytes()), _extra_files=extra)
    with torch.no_grad():
        probs = loaded(images)
    assert probs.shape == (16, 40)
    diff = float((probs - reference[0]).abs().max())
    assert diff <= 1e-4
    assert json.loads(extra["meta.json"])["image_size"] == "32"
    _check_card(out, run, "torchscript", diff)


@pytest.mark.parametrize("shift", [0.5, 3.0])
def test_export_is_checked_before_anything_is_written(tmp_path, run, monkeypatch, shift):
    """One output of the exported model is moved by ``shift`` x the tolerance: within it the
    export is written and its card records that difference; beyond it nothing is written."""
    real = export.run_exported

    def perturbed(data, fmt, x):
        out = real(data, fmt, x)
        out[0][3, 7] += np.float32(shift * export.TOLERANCE)
        return out

    monkeypatch.setattr(export, "run_exported", perturbed)
    out = tmp_path / "model.pt"
    written = [out, Path(f"{out}.card.json"), Path(f"{out}.card.md")]
    if shift > 1:
        with pytest.raises(ValueError, match="differs from PyTorch by .*nothing written"):
            export.export_model(run, "torchscript", out)
        assert not any(p.exists() for p in written)
        assert list(tmp_path.iterdir()) == []  # no temporary file either
    else:
        card = export.export_model(run, "torchscript", out)
        assert all(p.exists() for p in written)
        got = json.loads(written[1].read_text())["check"]["max_abs_diff"]
        assert got == card["check"]["max_abs_diff"]
        assert got == pytest.approx(shift * export.TOLERANCE, rel=1e-2)


def test_cli_refuses_an_unknown_suffix(tmp_path, run, capsys):
    parser = argparse.ArgumentParser()
    export.configure_parser(parser)
    assert export.cli_main(parser.parse_args([str(run), "--out", str(tmp_path / "m.bin")])) == 2
    assert "--format" in capsys.readouterr().err
    assert not (tmp_path / "m.bin").exists()


def test_missing_onnx_is_a_clear_message(tmp_path, run, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r"mggnet-lite\[export\]"):
        export.export_model(run, "onnx", tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_a_celeba_run_states_celeba_limits_once(run) -> None:
    """The run's own limits carry CelebA's label noise and demographics once; the card adds
    only what holds for every export."""
    from mggnet_lite.training.checkpoint import limits, read_run

    info = read_run(run)
    info["data"] = {"name": "CelebA", "synthetic": False, "split_sizes": {"train": 162770}}
    lines = limits(info)
    text = "\n".join(lines)
    assert text.count("darker-skinned") == 1 and text.count("noisy") == 1, text
    assert "mean nothing" not in text
    module = export.ExportModule(info["model"])
    card = export.build_card(info, module, "onnx", Path("m.onnx"), {"max_abs_diff": 0.0,
                             "inputs": "x", "tolerance": export.TOLERANCE})
    assert card["limits"] == [*lines, export.USE_LIMIT]
    assert export.card_markdown(card).count("darker-skinned") == 1


def test_onnx_metadata_names_the_models_own_attributes(tmp_path, run) -> None:
    """A model whose attribute order is its own (here reversed) exports that order."""
    import onnx

    ckpt = torch.load(run / "last.pt", weights_only=True)
    ckpt["model_config"]["attributes"] = own = list(reversed(ckpt["model_config"]["attributes"]))
    (tmp_path / "own").mkdir()
    torch.save(ckpt, tmp_path / "own" / "last.pt")
    model, _ = load_model(tmp_path / "own")
    assert list(model.attributes) == own
    out = tmp_path / "m.onnx"
    card = export.export_model(tmp_path / "own", "onnx", out)
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta["attributes"]) == own == card["outputs"]["attributes"]
