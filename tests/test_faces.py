"""Face detection and CelebA alignment on a real photograph (issue [3/5], item 1).

The photograph is matplotlib's ``grace_hopper.jpg`` (it ships with an installed dependency;
no network). Its eye centres were measured by hand at 4x zoom (about +-1.5 px), its mouth
centre at 8x zoom (about +-2 px).
"""

from __future__ import annotations

import math

import cv2  # the test extra holds the photos extra: a missing one is an error, not a skip
import numpy as np
import pytest
from PIL import Image, ImageOps

from mggnet_lite.deploy import faces
from mggnet_lite.deploy.faces import CANONICAL, CROP_SIZE, apply_transform, detect_and_align

#: hand-measured pupil centres of grace_hopper.jpg (512 x 600), image-left eye first
TRUTH = {"left_eye": (221.5, 188.5), "right_eye": (302.5, 186.0)}
#: its mouth centre, the midpoint of the two corners of the lips (at 8x zoom, about +-2 px)
MOUTH = (268.0, 280.0)


@pytest.fixture(scope="module")
def photo_path() -> str:
    from matplotlib import cbook

    return str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


@pytest.fixture(scope="module")
def photo(photo_path) -> Image.Image:
    with Image.open(photo_path) as im:
        return im.convert("RGB")


@pytest.fixture(scope="module")
def found(photo_path) -> faces.Face:
    (face,) = detect_and_align(photo_path)
    return face


def _dist(a, b) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def _eye_distance(landmarks) -> float:
    return _dist(landmarks["left_eye"], landmarks["right_eye"])


def test_real_photo_aligns_eyes_within_6px_of_canonical(found):
    assert found.eyes_detected
    assert found.crop.size == CROP_SIZE and found.crop.mode == "RGB"
    x0, y0, x1, y1 = found.box
    assert x0 < TRUTH["left_eye"][0] < TRUTH["right_eye"][0] < x1 and y0 < 187 < y1
    # the hand-measured eyes, through the estimated alignment, land on CelebA's points
    aligned = apply_transform(found.transform, TRUTH)
    for name in ("left_eye", "right_eye"):
        assert _dist(aligned[name], CANONICAL[name]) < 6, (name, aligned[name])
        assert _dist(found.landmarks[name], TRUTH[name]) < 6
    # the transform is the non-reflective similarity taking the detector's eyes onto CelebA's,
    # computed here in closed form on complex numbers: z -> p z + q, p = (w2 - w1) / (z2 - z1)
    z1, z2 = (complex(*found.landmarks[k]) for k in ("left_eye", "right_eye"))
    w1, w2 = (complex(*CANONICAL[k]) for k in ("left_eye", "right_eye"))
    p = (w2 - w1) / (z2 - z1)
    q = w1 - p * z1
    expect = [[p.real, -p.imag, q.real], [p.imag, p.real, q.imag]]
    np.testing.assert_allclose(found.transform, expect, rtol=0, atol=1e-9)
    # the hand-measured mouth lands on CelebA's mouth point: below the eyes, upright, to scale
    aligned_mouth = apply_transform(found.transform, {"mouth": MOUTH})["mouth"]
    assert _dist(aligned_mouth, CANONICAL["mouth"]) < 6, aligned_mouth


def _warp(photo: Image.Image, scale: float, degrees: float, shift: tuple[float, float]):
    """``photo`` scaled and rotated about its face, shifted, on a larger canvas; and the map."""
    a = cv2.getRotationMatrix2D((262.0, 187.0), degrees, scale)
    a[:, 2] += np.array([262.0, 187.0]) * (scale - 1) + np.array(shift)
    size = (int(512 * scale + 2 * shift[0]), int(600 * scale + 2 * shift[1]))
    arr = cv2.warpAffine(
        np.asarray(photo), a, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return Image.fromarray(arr), a


@pytest.mark.parametrize("scale, degrees, shift", [(1.3, 8.0, (40, 25)), (0.7, -8.0, (30, 10))])
def test_landmarks_move_with_the_photo(photo, found, scale, degrees, shift):
    moved, a = _warp(photo, scale, degrees, shift)
    (face,) = detect_and_align(moved)
    assert face.eyes_detected
    expect = apply_transform(a, found.landmarks)
    tol = 0.1 * _eye_distance(expect)  # 3.75 px of the aligned crop: Haar boxes are coarse
    for name in ("left_eye", "right_eye"):
        assert _dist(face.landmarks[name], expect[name]) < tol, (name, face.landmarks, expect)
    aligned = apply_transform(face.transform, apply_transform(a, TRUTH))
    for name in ("left_eye", "right_eye"):
        assert _dist(aligned[name], CANONICAL[name]) < 6


def test_two_faces_side_by_side_left_to_right(photo):
    pair = Image.new("RGB", (1024, 600))
    pair.paste(photo, (0, 0))
    pair.paste(photo.transpose(Image.FLIP_LEFT_RIGHT), (512, 0))
    left, right = detect_and_align(pair)
    assert left.box[2] <= right.box[0]
    assert left.landmarks["left_eye"][0] < left.landmarks["right_eye"][0] < 512
    assert 512 < right.landmarks["left_eye"][0] < right.landmarks["right_eye"][0]


def test_image_without_a_face_gives_an_empty_list():
    y, x = np.mgrid[0:400, 0:300]
    sky = np.stack([x * 0.5, y * 0.4, 200 + 0 * x], -1).astype(np.uint8)
    assert detect_and_align(Image.fromarray(sky)) == []


def test_exif_orientation_6_reports_the_displayed_frame(tmp_path, photo, found):
    # orientation 6: the viewer turns the stored pixels 90 degrees clockwise to show them
    stored = photo.rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "turned.jpg"
    stored.save(path, quality=95, exif=exif)
    (face,) = detect_and_align(path)
    with Image.open(path) as im:
        shown = ImageOps.exif_transpose(im).convert("RGB")
    assert shown.size == (512, 600)
    (same,) = detect_and_align(shown)  # the displayed pixels, turned by hand
    assert face.landmarks == same.landmarks and face.box == same.box
    for name in ("left_eye", "right_eye"):  # JPEG re-encoding moves Haar boxes a little
        assert _dist(face.landmarks[name], found.landmarks[name]) < 0.1 * 81, face.landmarks
    assert face.box[2] <= 512 and face.box[3] <= 600  # the displayed image is 512 x 600


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "CMYK", "P"])
def test_any_image_mode_works(tmp_path, photo, found, mode):
    if mode == "I;16":
        im = Image.fromarray(np.asarray(photo.convert("L")).astype(np.uint16) * 257)
        path = tmp_path / "wide.png"
    else:
        im = photo.convert(mode)
        path = tmp_path / f"face_{mode}.{'jpg' if mode in ('L', 'CMYK') else 'png'}"
    im.save(path)
    (face,) = detect_and_align(path)
    assert face.crop.mode == "RGB"
    assert _dist(face.landmarks["left_eye"], found.landmarks["left_eye"]) < 8


def test_large_jpeg_is_decoded_reduced_and_coordinates_scale_back(
    tmp_path, photo, found, monkeypatch
):
    big = photo.resize((512 * 4, 600 * 4), Image.BICUBIC)
    path = tmp_path / "big.jpg"
    big.save(path, quality=90)
    seen = []
    real = faces.to_rgb

    def spy(im):
        seen.append(im.size)
        return real(im)

    monkeypatch.setattr(faces, "to_rgb", spy)
    loaded = faces.load_image(path, max_pixels=400_000)
    assert seen[0][0] * seen[0][1] <= 2048 * 2400 / 4  # decoded at 1/2 scale or less
    assert loaded.image.width * loaded.image.height <= 400_000
    assert loaded.size == (2048, 2400)
    (face,) = detect_and_align(path, max_pixels=400_000)
    expect = {k: (4 * x + 1.5, 4 * y + 1.5) for k, (x, y) in found.landmarks.items()}
    for name in ("left_eye", "right_eye"):
        assert _dist(face.landmarks[name], expect[name]) < 0.08 * _eye_distance(expect)


def test_undecodable_huge_file_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "wide.png"
    Image.new("RGB", (400, 300)).save(path)
    monkeypatch.setattr(faces, "MAX_FULL_DECODE_PIXELS", 100_000)
    with pytest.raises(ValueError, match="too large to decode whole"):
        faces.load_image(path, max_pixels=50_000)


def test_truncated_jpeg_raises(tmp_path, photo_path):
    data = open(photo_path, "rb").read()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(OSError):
        detect_and_align(path)


def test_similarity_transform_recovers_a_known_similarity():
    angle, s, t = math.radians(20), 0.6, np.array([5.0, -3.0])
    r = s * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    src = {k: tuple(np.linalg.solve(r, np.array(v) - t)) for k, v in CANONICAL.items()}
    m = faces.similarity_transform(src)
    assert np.allclose(m, np.c_[r, t], atol=1e-9)
    with pytest.raises(ValueError, match="at least two"):
        faces.similarity_transform({"left_eye": (0.0, 0.0)})
