"""Where and on what a run computes: the device, the machine a number was measured on, the
versions (ARCHITECTURE.md, "Speed": every measured claim comes with its hardware)."""

from __future__ import annotations

import functools
import os
import platform
import sys
from pathlib import Path
from typing import Any

import torch

from .. import __version__


def has_gpu() -> bool:
    return torch.cuda.is_available()


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto``: this rank's GPU when there is one, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but no CUDA GPU is visible; use --device cpu")
    return dev


@functools.lru_cache(maxsize=4)
def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes bf16 natively (``avx512_bf16`` or ``amx_bf16`` among the flags
    of ``cpuinfo``; False where there is no such file). There bf16 autocast trains faster than
    fp32 (1.3-1.9x for the quick profile's steps, ARCHITECTURE.md, "Speed"); elsewhere oneDNN
    emulates it, slower than fp32."""
    flags = (_cpuinfo_field("flags", cpuinfo) or "").split()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _cpuinfo_field(key: str, cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """The value of the first ``key : value`` line of ``cpuinfo`` (Linux), or None."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cpu_name() -> str:
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def machine_info(device: torch.device | str | None = None) -> dict[str, Any]:
    """What a measured number ran on: every measured claim comes with its hardware
    (ARCHITECTURE.md, "Speed")."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    info: dict[str, Any] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_cores": cores,
        "torch_threads": torch.get_num_threads(),
        "cpu_native_bf16": cpu_has_native_bf16(),
    }
    dev = torch.device(device) if device is not None else None
    if torch.cuda.is_available():
        idx = dev.index if dev is not None and dev.type == "cuda" and dev.index is not None else 0
        info["gpu"] = torch.cuda.get_device_name(idx)
        info["gpu_count"] = torch.cuda.device_count()
    info["device"] = str(dev) if dev is not None else None
    info["name"] = (
        info.get("gpu")
        if dev is not None and dev.type == "cuda"
        else (f"{info['cpu']} ({cores} cores)")
    )
    return info


def versions() -> dict[str, str]:
    """Versions of Python, torch, torchvision and this package."""
    try:
        import torchvision

        tv = torchvision.__version__
    except ImportError:  # pragma: no cover
        tv = "absent"
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": tv,
        "mggnet_lite": __version__,
    }
