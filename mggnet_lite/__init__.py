"""mggnet-lite: MGG-Net (Chen et al., "Improving Facial Attribute Recognition by Group and
Graph Learning", ICME 2021) as a small, readable PyTorch package."""

__version__ = "0.1.0"

from . import attributes  # noqa: E402
from .losses import mggnet_loss  # noqa: E402
from .nn.mggnet import MGGNet, MGGOutput, build_model  # noqa: E402

__all__ = ["attributes", "build_model", "mggnet_loss", "MGGNet", "MGGOutput", "__version__"]
