"""Backbones of the paper's Table 4 (ResNet-18/34, VGG-16, AlexNet) cut into five blocks.

The paper's masks are 28x28 on "block 3" and 14x14 on "block 4" for a 224 input
(Sec. 4.3). In torchvision's ResNet-18 those are the outputs of ``layer2`` and
``layer3``, so the paper counts the stem as block 1. We name every backbone's stages
``block1`` ... ``block5`` so that, at 224, ``block3`` is about 28x28, ``block4`` about
14x14 and ``block5`` is the last feature map F_B used for the base prediction Y^B:

=========  ===============  =====================  ======================
backbone   block3 (28x28)   block4 (14x14)         block5 = F_B
=========  ===============  =====================  ======================
resnet*    layer2           layer3                 layer4 (7x7)
vgg16      conv3_x + pool3  conv4_x + pool4        conv5_x + pool5 (7x7)
alexnet    conv2 (27x27)    pool2 + conv3-5 (13)   pool5 (6x6)
=========  ===============  =====================  ======================
"""

from __future__ import annotations

import os
import socket
import urllib.error
from collections.abc import Sequence
from pathlib import Path

import torch
import torchvision
from torch import nn

from ..paper import TAPS

BACKBONES: tuple[str, ...] = ("resnet18", "resnet34", "vgg16", "alexnet")
BLOCKS: tuple[str, ...] = ("block1", "block2", "block3", "block4", "block5")
#: the blocks GAL / GCL may sit on (block5 is F_B, the base prediction's input)
TAP_BLOCKS: tuple[str, ...] = BLOCKS[:-1]
_MIN_SIZE = {"resnet18": 32, "resnet34": 32, "vgg16": 32, "alexnet": 63}
#: seconds a ``weights="imagenet"`` download may wait on the network before giving up.
DOWNLOAD_TIMEOUT_S = 10.0


class Backbone(nn.Module):
    """A torchvision backbone as five sequential blocks; ``forward`` returns the tapped maps.

    ``forward(x)`` returns ``{tap: F_b for each tap} | {"final": F_B}``; ``forward(x,
    final=False)`` stops after the last tap and returns the taps alone.
    """

    def __init__(self, name: str, stages: nn.ModuleDict, channels: dict[str, int],
                 taps: Sequence[str]) -> None:
        super().__init__()
        self.name = name
        self.stages = stages
        self.channels = channels
        self.min_size = _MIN_SIZE[name]
        bad = [t for t in taps if t not in TAP_BLOCKS]
        if bad:
            raise ValueError(
                f"taps={list(taps)}: {bad} not among {list(TAP_BLOCKS)} (block5 is F_B, "
                "used for the base prediction; the default taps are block3 and block4)"
            )
        if len(set(taps)) != len(taps):
            raise ValueError(f"taps={list(taps)}: each block may be tapped once")
        self.taps = tuple(sorted(taps, key=BLOCKS.index))
        self.final_channels = channels["block5"]

    def forward(self, x: torch.Tensor, final: bool = True) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for name, stage in self.stages.items():
            if not final and len(out) == len(self.taps):
                return out  # the blocks after the last tap would feed only F_B
            x = stage(x)
            if name in self.taps:
                out[name] = x
        out["final"] = x
        return out


#: ResNet-18 / 34 layers per stage (torchvision's ``resnet18`` / ``resnet34``)
_RESNET_LAYERS = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3]}


def _torchvision_model(name: str, width: int = 64) -> nn.Module:
    """torchvision's architecture; for a ResNet, ``width`` channels in the stem and first stage
    (torchvision: 64), doubling per stage, with torchvision's module names and init."""
    if width == 64 or not name.startswith("resnet"):
        return getattr(torchvision.models, name)(weights=None)
    from torchvision.models.resnet import BasicBlock, ResNet

    class _Narrow(ResNet):
        # torchvision's ResNet with its channel counts scaled by width / 64 (the stem's conv1
        # and bn1 are rebuilt before _make_layer reads self.inplanes)
        def __init__(self) -> None:
            nn.Module.__init__(self)
            super().__init__(BasicBlock, _RESNET_LAYERS[name])

        def _make_layer(self, block, planes, blocks, stride=1, dilate=False):  # noqa: ANN001
            if planes == 64:  # the first stage: rebuild the stem at this width
                self.inplanes = width
                self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
                self.bn1 = self._norm_layer(width)
            return super()._make_layer(block, planes * width // 64, blocks, stride, dilate)

    model = _Narrow()
    model.fc = nn.Linear(8 * width, 1000)
    for m in model.modules():  # torchvision's init, for the rebuilt stem too
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return model


def _split(name: str, model: nn.Module, width: int = 64, stem_pool: bool = True
           ) -> tuple[nn.ModuleDict, dict[str, int]]:
    """Cut a torchvision classifier into the five blocks of the module docstring's table.
    ``stem_pool=False`` (ResNets): block 1 without the stem's 3x3 / 2 max-pool, so every
    later block's map is twice as fine (the max-pool has no parameters: same state dict)."""
    if name.startswith("resnet"):
        m = model
        stem = [m.conv1, m.bn1, m.relu] + ([m.maxpool] if stem_pool else [])
        stages = [nn.Sequential(*stem), m.layer1, m.layer2, m.layer3, m.layer4]
        channels = [width, width, 2 * width, 4 * width, 8 * width]
    elif name == "vgg16":
        f = model.features
        stages = [f[0:5], f[5:10], f[10:17], f[17:24], f[24:31]]
        channels = [64, 128, 256, 512, 512]
    elif name == "alexnet":
        f = model.features
        stages = [f[0:2], f[2:3], f[3:5], f[5:12], f[12:13]]
        channels = [64, 64, 192, 256, 256]
    else:  # pragma: no cover - guarded by build_backbone
        raise AssertionError(name)
    return nn.ModuleDict(dict(zip(BLOCKS, stages, strict=True))), dict(
        zip(BLOCKS, channels, strict=True)
    )


def _imagenet_state_dict(name: str) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights for ``name`` (downloaded once into the torch hub cache)."""
    weights = torchvision.models.get_model_weights(name).IMAGENET1K_V1
    hub_dir = Path(torch.hub.get_dir()) / "checkpoints"
    cached = hub_dir / os.path.basename(weights.url)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # never hang when offline
    try:
        return weights.get_state_dict(progress=False, check_hash=False)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise RuntimeError(
            f'weights="imagenet": could not download {weights.url} ({err}). If this machine is '
            f"offline, fetch that file elsewhere and either put it at {cached} or pass its "
            f'path: build_model(..., weights="/path/to/{cached.name}"); or use weights=None '
            "to train from scratch."
        ) from err
    finally:
        socket.setdefaulttimeout(old)


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a state dict with ``weights_only=True``: no arbitrary unpickling (ARCHITECTURE.md, "Rules")."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"weights={str(path)!r}: no such file; pass None, 'imagenet' or a state-dict path"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle.UnpicklingError, RuntimeError, EOFError ...
        raise ValueError(
            f"weights={str(path)!r} is not a loadable state dict ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}). Only tensors are read "
            "(torch.load weights_only=True); save one with torch.save(model.state_dict(), path)."
        ) from err
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]  # an mggnet_lite training checkpoint
    if not isinstance(obj, dict) or not obj or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise ValueError(
            f"weights={str(path)!r} holds a {type(obj).__name__}, not a state dict "
            "(a dict of parameter name -> tensor)"
        )
    return obj


def build_backbone(
    name: str = "resnet18",
    taps: Sequence[str] = TAPS,
    weights: str | os.PathLike | None = None,
    width: int = 64,
    stem_pool: bool = True,
) -> Backbone:
    """A backbone of Table 4 with feature taps; ``weights``: None, ``"imagenet"`` or a path.

    A path may hold a torchvision state dict of the same architecture (its classifier
    keys are ignored). ``width`` (ResNets only): channels of the first stage, doubling per
    stage; 64 is the paper's ResNet, the quick profile's CPU stand-in uses 16.
    ``stem_pool=False`` (ResNets only) leaves out the stem's max-pool: at the quick profile's
    64 px, block 3 is 16 x 16 instead of 8 x 8, the paper's 28 x 28 at 224 px being the grid
    its masks localise on (Sec. 4.3; benchmarks/studies/2026-12-04-narrow-stem).
    """
    if name not in BACKBONES:
        raise ValueError(f"backbone={name!r}: choose one of {list(BACKBONES)}")
    if width != 64 and not name.startswith("resnet"):
        raise ValueError(f"width={width}: only the ResNets take a width (use 64 for {name})")
    if not stem_pool and not name.startswith("resnet"):
        raise ValueError(f"stem_pool=False: only the ResNets have a stem max-pool, not {name}")
    if width < 4 or width % 4:
        raise ValueError(f"width={width} must be a positive multiple of 4 (ResNet-18: 64)")
    if weights == "imagenet" and width != 64:
        raise ValueError(f'weights="imagenet" exists for width 64 only, not width={width}')
    model = _torchvision_model(name, width)
    if weights is not None:
        state = (_imagenet_state_dict(name) if weights == "imagenet"
                 else load_state_dict_file(weights))
        if any(k.startswith("backbone.") for k in state):
            raise ValueError(
                f"weights={str(weights)!r} is a whole-model state dict; load it with "
                "model.load_state_dict(...) after build_model(weights=None)"
            )
        state = {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier."))}
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith(("fc.", "classifier."))]
        if missing or unexpected:
            raise ValueError(
                f"weights={str(weights)!r} does not fit torchvision's {name}: "
                f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
                f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}"
            )
    stages, channels = _split(name, model, width, stem_pool)
    return Backbone(name, stages, channels, taps)
