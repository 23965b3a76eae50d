import time, torch
torch.set_num_threads(1)
from mggnet_lite.nn import build_model
from mggnet_lite.losses import mggnet_loss
m = build_model("mggnet", "resnet18", None)  # width 64 channels
for name, C, h in (("block3", 128, 8), ("block4", 256, 4)):
    x = torch.randn(128, C, h, h)
    for part in ("gal", "gcl"):
        t = time.time()
        for _ in range(5):
            f, mk = m.gal[name](x)
            if part == "gcl":
                g, e = m.gcl[name](f); loss = g.sum()
            else:
                loss = f.sum()
            loss.backward()
        print(name, part, (time.time() - t) / 5, "s/step")
