"""SynthFaces occlusion (issue [2/5], item 3): one group's region hidden, labels kept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mggnet_lite.data.synthfaces import (
    OCCLUSION_FILE,
    load_group_masks,
    occlusion_plan,
    read_occlusion,
    synthesize,
)
from mggnet_lite.data.synthfaces.labels import GROUP_NAMES


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("occ")
    plain = synthesize(base / "plain", n=40, seed=5, workers=1, progress=False)
    hidden = synthesize(base / "hidden", n=40, seed=5, workers=1, progress=False,
                        occlusion={"mouth": 0.25, "eyes": 0.1, "neck": 0.1})
    return plain, hidden


def test_plan_is_deterministic_and_has_the_asked_shares() -> None:
    a = occlusion_plan(1000, 3, {"mouth": 0.3, "eyes": 0.1})
    assert a == occlusion_plan(1000, 3, {"mouth": 0.3, "eyes": 0.1})
    assert a.count("mouth") == 300 and a.count("eyes") == 100 and a.count(None) == 600
    assert a != occlusion_plan(1000, 4, {"mouth": 0.3, "eyes": 0.1})


def test_labels_and_masks_are_kept_and_the_list_says_which(pair) -> None:
    plain, hidden = pair
    for f in ("list_attr_celeba.txt", "list_eval_partition.txt"):
        assert (plain / f).read_bytes() == (hidden / f).read_bytes()
    assert not (plain / OCCLUSION_FILE).exists()
    occ = read_occlusion(str(hidden))
    assert list(occ.values()).count("mouth") == 10 and len(occ) == 40
    meta = json.loads((hidden / "synthfaces.json").read_text())
    assert meta["occlusion"]["shares"] == {"mouth": 0.25, "eyes": 0.1, "neck": 0.1}
    for name in occ:
        assert np.array_equal(load_group_masks(plain, name), load_group_masks(hidden, name))


def test_only_the_hidden_region_changes(pair) -> None:
    plain, hidden = pair
    for name, group in read_occlusion(str(hidden)).items():
        a = np.asarray(Image.open(plain / "img_align_celeba" / name), np.int16)
        b = np.asarray(Image.open(hidden / "img_align_celeba" / name), np.int16)
        if group is None:
            assert np.array_equal(a, b), name  # the other images are byte for byte the same
            continue
        changed = np.abs(a - b).max(-1) > 24
        region = load_group_masks(hidden, name)[GROUP_NAMES.index(group)]
        grown = region.copy()  # the accessory's soft rim and JPEG ringing reach a few pixels
        for _ in range(4):
            grown[1:] |= grown[:-1].copy()
            grown[:-1] |= grown[1:].copy()
            grown[:, 1:] |= grown[:, :-1].copy()
            grown[:, :-1] |= grown[:, 1:].copy()
        assert changed.sum() > 0.3 * region.sum(), (name, group)
        assert (changed & ~grown).sum() <= 0.02 * changed.sum(), (name, group)


def test_a_bad_occlusion_request_names_the_group() -> None:
    with pytest.raises(ValueError, match="'nose'"):
        synthesize("/nonexistent", n=4, occlusion={"nose": 0.2}, progress=False)
    with pytest.raises(ValueError, match="add up"):
        synthesize("/nonexistent", n=4, occlusion={"eyes": 0.6, "mouth": 0.6}, progress=False)
