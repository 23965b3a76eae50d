"""``python -m mggnet_lite``: one entry point, one subcommand per module.

Each subcommand lives in the module that does the work; that module defines
``configure_parser(parser)`` and ``cli_main(args) -> int``. Modules are imported only
when their subcommand runs, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("mggnet_lite.data.synthfaces", "render a SynthFaces set in CelebA's layout"),
    "cache": ("mggnet_lite.data.cache", "decode a split once into a uint8 memory-mapped cache"),
    "train": ("mggnet_lite.training.train", "train a model (paper Sec. 4.1 schedule by default)"),
    "evaluate": ("mggnet_lite.training.evaluate", "evaluate a run or checkpoint in the paper's tables"),
    "params": ("mggnet_lite.nn.params", "parameter counts of each variant beside the paper's"),
    "bench": ("mggnet_lite.training.bench", "end-to-end training throughput: plain pipeline vs ours"),
    "predict": ("mggnet_lite.deploy.predict", "attributes of the faces in your photos, with masks and graph"),
    "export": ("mggnet_lite.deploy.export", "export a run as ONNX or TorchScript with a model card"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; a subcommand's own options are added when it is chosen."""
    parser = argparse.ArgumentParser(
        prog="python -m mggnet_lite",
        description="MGG-Net (Chen et al., ICME 2021): data, training, evaluation, tools.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(SUBCOMMANDS) + "}")
    for name, (_module, help_) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the subcommand's module; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUBCOMMANDS:
        parser = build_parser()
        if not argv or argv[0] in ("-h", "--help"):
            parser.print_help()
            return 0 if argv else 2
        parser.error(f"unknown command {argv[0]!r}; choose one of {', '.join(SUBCOMMANDS)}")
    name, rest = argv[0], argv[1:]
    module = importlib.import_module(SUBCOMMANDS[name][0])
    sub = argparse.ArgumentParser(
        prog=f"python -m mggnet_lite {name}", description=SUBCOMMANDS[name][1]
    )
    module.configure_parser(sub)
    args = sub.parse_args(rest)
    return int(module.cli_main(args) or 0)
