"""``predict`` on photos (issue [3/5], item 2): per-face attributes by group, ``--json``,
``--explain`` pictures drawn from the model's own masks, errors that do not stop the rest."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import cv2  # noqa: F401  (test extra: a missing one is an error, not a skip)
import numpy as np
import pytest
import torch
from _train_helpers import REPO, env, synth_root
from PIL import Image
from test_export import train_tiny_run

from mggnet_lite.attributes import CELEBA_ATTRIBUTES, GROUPS
from mggnet_lite.deploy import predict


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("predict") / "run")


@pytest.fixture(scope="module")
def predictor(run) -> predict.Predictor:
    return predict.Predictor.load(run)


@pytest.fixture(scope="module")
def photo() -> str:
    from matplotlib import cbook

    return str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, photo) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inputs")
    data = Path(photo).read_bytes()
    (d / "cut.jpg").write_bytes(data[: len(data) // 3])
    y, x = np.mgrid[0:300, 0:240]
    Image.fromarray(np.stack([x, y * 0.8, 150 + 0 * x], -1).astype(np.uint8)).save(d / "sky.png")
    return {"photo": Path(photo), "cut": d / "cut.jpg", "sky": d / "sky.png"}


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    predict.configure_parser(parser)
    return parser.parse_args(list(argv))


def test_batch_is_the_loaders_transform(run, predictor):
    from mggnet_lite.data import CelebA, make_loader

    test = CelebA(synth_root(n=168), "test")
    x, _ = next(iter(make_loader(test, batch_size=2, image_size=32, train=False, path="pil")))
    crops = [test.load_image(0), test.load_image(1)]
    assert torch.equal(predict.to_batch(crops, predictor.image_size), x)


def test_cli_json_errors_and_no_face(tmp_path, run, inputs, capsys):
    out = tmp_path / "pred.json"
    paths = [inputs["photo"], inputs["cut"], inputs["sky"]]
    rc = predict.cli_main(_args(*map(str, paths), "--run", str(run), "--json", str(out)))
    cap = capsys.readouterr()
    assert rc == 1  # the truncated file, reported after the others were done
    doc = json.loads(out.read_text())
    photo, cut, sky = doc["images"]
    assert [e["path"] for e in doc["images"]] == list(map(str, paths))
    (face,) = photo["faces"]
    assert set(face["probabilities"]) == set(CELEBA_ATTRIBUTES)
    assert list(face["groups"]) == list(GROUPS)
    for group, attrs in face["groups"].items():
        assert all(a in GROUPS[group] and p > 0.5 for a, p in attrs.items())
    x0, y0, x1, y1 = face["box"]
    assert x0 < face["landmarks"]["left_eye"][0] < face["landmarks"]["right_eye"][0] < x1
    assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 600  # original pixels
    assert "cut.jpg" in cut["error"] and cut["faces"] == []
    assert sky["faces"] == [] and "error" not in sky
    assert [ln for ln in cap.err.splitlines() if "sky.png" in ln] == [
        f"predict: no face found in {inputs['sky']}"
    ]
    assert "SynthFaces" in cap.out and "mean nothing" in cap.out  # the model's limits
    assert "at 32 x 32 px" in cap.out and doc["model"]["data"]["synthetic"] is True


def test_explain_draws_the_models_masks(tmp_path, run, predictor, inputs, photo):
    from mggnet_lite.deploy.faces import detect_and_align

    rc = predict.cli_main(_args(photo, "--run", str(run), "--explain", str(tmp_path / "ex")))
    assert rc == 0
    (png,) = sorted((tmp_path / "ex").glob("*.png"))
    assert png.name == "grace_hopper_face1.png"
    with Image.open(png) as im:
        assert im.mode == "RGB"
        written = np.asarray(im)
    # the expected picture, composed here: the model run by hand on the aligned crop, and its
    # probabilities, masks and affinities handed to the drawing function one by one
    (face,) = detect_and_align(photo)
    model = predictor.model
    with torch.no_grad():
        out = model(predict.to_batch([face.crop], predictor.image_size))
    probs = out.probs[0].numpy()
    masks = {b: m[0].numpy() for b, m in out.masks.items()}
    affinity = {b: a[0].numpy() for b, a in out.affinity.items()}
    assert set(masks) == set(affinity) == {"block3", "block4"} and masks["block3"].shape[0] == 8

    def drawn(probs, masks, affinity) -> np.ndarray:
        return np.asarray(predict.explain_figure(
            face.crop, probs, masks, affinity, attributes=list(model.attributes),
            groups=model.groups, node_names=list(model.node_names),
            title="grace_hopper.jpg, face 1 (SynthFaces model: meaningless on photos)"))

    expect = drawn(probs, masks, affinity)
    assert written.shape == expect.shape and written.shape[0] > 800 and written.shape[1] > 800
    assert np.array_equal(written, expect), "the PNG is not the model's outputs drawn"
    # ... and each of them shows: another mask, affinity or probability is another picture
    flipped = dict(masks, block3=masks["block3"].copy())
    flipped["block3"][3] = 1.0 - flipped["block3"][3]
    other = dict(affinity, block4=affinity["block4"].T.copy())
    for variant in (drawn(probs, flipped, affinity), drawn(probs, masks, other),
                    drawn(probs[::-1].copy(), masks, affinity)):
        assert not np.array_equal(variant, written)


def test_module_entry_point(tmp_path, run, photo):
    out = tmp_path / "p.json"
    cmd = [
        sys.executable,
        "-m",
        "mggnet_lite",
        "predict",
        photo,
        "--run",
        str(run),
        "--json",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(out.read_text())["images"][0]["faces"]) == 1
    assert "grace_hopper.jpg: 1 face" in proc.stdout


def test_bad_run_is_a_clear_error(tmp_path, photo, capsys):
    assert predict.cli_main(_args(photo, "--run", str(tmp_path / "nope"))) == 2
    assert "does not exist" in capsys.readouterr().err
