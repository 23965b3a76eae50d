"""One rank of the DDP test (tests/test_ddp.py), started by ``torchrun --nproc_per_node=2``.

Trains a few steps with :func:`mggnet_lite.training.train.train` (gloo on CPU), then writes this rank's
weights and the evaluation counts it holds after the all_reduce to ``OUT/rank<r>.pt``.
"""

from __future__ import annotations

import os
import sys

import torch

from mggnet_lite.training.config import make_config
from mggnet_lite.training.train import train

if __name__ == "__main__":
    data, out = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    cfg = make_config(
        "quick",
        sets=[  # one end-to-end stage, as before the quick profile had two (DDP trains images)
            "pretrain=none",
            "freeze_backbone=false",
            "optimizer=sgd",
            "schedule=step",
            "width=64",
            "stem_pool=true",  # the paper's trunk and training, not the quick profile's
            "detach_senders=false",
            "pool=gap",
            "flip=true",
            "lr=0.1",
            "low_lr=0.01",
            "weight_decay=0.0005",
            "image_size=32",
            "batch_size=8",
            "epochs_at_lr=1",
            "epochs_at_low_lr=0",
            "max_steps_per_epoch=3",
            "variant=mggnet",
            "threads=1",
            "loader=cache",
            "device=cpu",
        ],
    )
    result = train(cfg, out, data, progress=False)
    rank = int(os.environ["RANK"])
    torch.save(
        {
            "model": result.model.state_dict(),
            "counts": result.eval_counts,
            "world_size": result.dist.world_size,
            "report": result.report is not None,
        },
        os.path.join(out, f"rank{rank}.pt"),
    )
    torch.distributed.destroy_process_group()
