"""Decode a SynthFaces set once into uint8 tensors at several sizes (+ packed test masks)."""
import sys, time, numpy as np, torch, torch.nn.functional as F
from multiprocessing import Pool
from PIL import Image
from mggnet_lite.data import CelebA
root, out = sys.argv[1], sys.argv[2]
sizes = [int(s) for s in sys.argv[3].split(",")]

def dec(f):
    return np.asarray(Image.open(f).convert("RGB"))

def mask(f):
    return np.asarray(Image.open(f))

t0 = time.time()
res = {}
for split in ("train", "valid", "test"):
    ds = CelebA(root, split)
    files = ds.image_files()
    with Pool(2) as p:
        imgs = np.stack(p.map(dec, files, chunksize=256))
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2)
    d = {"labels": ds.attr.to(torch.uint8), "filenames": list(ds.filenames)}
    for s in sizes:
        chunks = []
        for i in range(0, len(x), 1000):
            y = F.interpolate(x[i:i+1000].float(), size=(s, s), mode="bilinear",
                              align_corners=False, antialias=True)
            chunks.append(y.round().clamp(0, 255).to(torch.uint8))
        d[f"x{s}"] = torch.cat(chunks)
    if split == "test":
        mf = [root + "/group_masks/" + f[:-4] + ".png" for f in ds.filenames]
        with Pool(2) as p:
            d["masks_packed"] = torch.from_numpy(np.stack(p.map(mask, mf, chunksize=256)))
    torch.save(d, f"{out}/{split}.pt")
    print(split, len(files), f"{time.time()-t0:.1f}s", flush=True)
