"""``predict`` names what went wrong (issue [1/4], item 5): "cannot read FILE" only for a file
that cannot be read; a face whose alignment fails is reported for that file as such; a
detector that cannot load its cascades stops the command (exit 2), naming the fix."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib
import pytest
from _train_helpers import TINY_SETS, synth_root

from mggnet_lite.deploy import faces, predict
from mggnet_lite.training.config import make_config
from mggnet_lite.training.train import train

PHOTO = str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("predict-errors") / "run"
    cfg = make_config("quick", sets=[*TINY_SETS, "epochs_at_lr=1", "epochs_at_low_lr=0",
                                     "max_steps_per_epoch=1"])
    train(cfg, out, synth_root(), progress=False)
    return out


def _predict(run: Path, *paths: str, tmp_path: Path) -> tuple[int, dict | None]:
    parser = argparse.ArgumentParser()
    predict.configure_parser(parser)
    out = tmp_path / "p.json"
    code = predict.cli_main(parser.parse_args([*paths, "--run", str(run), "--json", str(out)]))
    return code, (json.loads(out.read_text()) if out.is_file() else None)


def test_an_unreadable_file_is_the_only_cannot_read(run, tmp_path, capsys) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    code, doc = _predict(run, str(bad), PHOTO, tmp_path=tmp_path)
    assert code == 1
    errors = [im.get("error") for im in doc["images"]]
    assert errors[0].startswith(f"cannot read {bad}") and errors[1] is None
    assert len(doc["images"][1]["faces"]) == 1  # the other file is still processed


def test_a_face_that_cannot_be_aligned_says_so(run, tmp_path, monkeypatch, capsys) -> None:
    def degenerate(*args, **kwargs):
        raise ValueError("the two eye points coincide")

    monkeypatch.setattr(faces, "similarity_transform", degenerate)
    code, doc = _predict(run, PHOTO, tmp_path=tmp_path)
    err = doc["images"][0]["error"]
    assert code == 1 and err.startswith(f"cannot align a face in {PHOTO}"), err
    assert "cannot read" not in capsys.readouterr().err


def test_a_detector_without_its_cascades_stops_the_command(run, tmp_path, monkeypatch,
                                                           capsys) -> None:
    def missing(name: str):
        raise faces.DetectorError(f"could not load the OpenCV cascade /nowhere/{name}: reinstall")

    monkeypatch.setattr(faces, "_cascade", missing)
    code, doc = _predict(run, PHOTO, tmp_path=tmp_path)
    err = capsys.readouterr().err
    assert code == 2 and doc is None
    assert "could not load the OpenCV cascade" in err and "cannot read" not in err
