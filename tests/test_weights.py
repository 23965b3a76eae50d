import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torchvision

from mggnet_lite import build_model


def test_imagenet_offline_fails_fast_with_a_local_file_hint(tmp_path):
    # No real network: an unreachable proxy makes any download attempt fail at once,
    # and an empty TORCH_HOME guarantees nothing is cached.
    env = {**os.environ, "TORCH_HOME": str(tmp_path), "HTTPS_PROXY": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "http_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}
    code = "from mggnet_lite import build_model; build_model('baseline', weights='imagenet')"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    elapsed = time.perf_counter() - t0
    assert proc.returncode != 0
    assert "RuntimeError" in proc.stderr
    assert "resnet18-f37072fd.pth" in proc.stderr and 'weights="/path/to/' in proc.stderr
    assert elapsed < 30, elapsed


def test_state_dict_path_loads_into_the_backbone(tmp_path):
    torch.manual_seed(0)
    ref = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(ref.state_dict(), path)
    model = build_model("mggnet", weights=path)
    torch.testing.assert_close(model.backbone.stages["block1"][0].weight, ref.conv1.weight)
    torch.testing.assert_close(model.backbone.stages["block5"][1].conv2.weight,
                               ref.layer4[1].conv2.weight)


def test_whole_model_state_dict_round_trips(tmp_path):
    torch.manual_seed(0)
    a = build_model("mggnet")
    path = tmp_path / "mgg.pt"
    torch.save(a.state_dict(), path)
    b = build_model("mggnet", weights=path)
    for (n, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(p, q), n


class _Evil:
    def __reduce__(self):
        return (Path.touch, (Path(os.environ["MGG_EVIL_MARK"]),))


def test_a_pickle_that_would_run_code_is_refused(tmp_path, monkeypatch):
    mark = tmp_path / "pwned"
    monkeypatch.setenv("MGG_EVIL_MARK", str(mark))
    path = tmp_path / "evil.pt"
    torch.save({"conv1.weight": _Evil()}, path)
    with pytest.raises(ValueError, match="not a loadable state dict"):
        build_model("baseline", weights=path)
    assert not mark.exists()


@pytest.mark.parametrize("obj", [{"lr": 0.01}, [torch.zeros(1)], torch.zeros(3)])
def test_a_file_that_is_not_a_state_dict_is_refused(tmp_path, obj):
    path = tmp_path / "x.pt"
    torch.save(obj, path)
    with pytest.raises(ValueError, match="not a state dict"):
        build_model("baseline", weights=path)


def test_wrong_architecture_and_missing_file(tmp_path):
    path = tmp_path / "squeezenet.pth"  # another torchvision architecture, 5 MB (AlexNet's is 240)
    torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match="does not fit torchvision's resnet18"):
        build_model("baseline", weights=path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        build_model("baseline", weights=tmp_path / "nope.pth")
