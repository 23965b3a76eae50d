import sys, json, numpy as np, torch
from mggnet_lite import analysis, book
from mggnet_lite.checkpoint import load_model
from mggnet_lite.data import CelebA
from mggnet_lite.data import synthfaces as sf
if __name__ == "__main__":
    torch.set_num_threads(1)
    run = sys.argv[1]; root = "/work/exp11b/sf"
    model, ck = load_model(run)
    report = json.load(open(f"{run}/results.json"))
    import os; os.environ["MGGNET_DATA"] = root
    outs = book.test_outputs(model, report, root)
    test = CelebA(root, split="test")
    truth = torch.from_numpy(np.stack([sf.load_group_masks(root, f) for f in test.filenames]))
    for b in model.backbone.taps:
        L = analysis.lift(outs[f"masks:{b}"], truth)
        print(b, "lift", [round(float(v),2) for v in L], "n>=2", int((L>=2).sum()), "best", round(float(L.max()),2))
        if f"affinity:{b}" in outs:
            print(b, "dev", round(analysis.affinity_deviation(outs[f"affinity:{b}"].mean(0)),4))
    hid = sf.read_occlusion(root); hidden = [hid.get(n) for n in test.filenames]
    where = analysis.hidden_group_rows(hidden, model.groups, model.attributes)
    for b in model.backbone.taps:
        if f"gcl:{b}" in outs:
            print(b, "GCL-GAL hidden", analysis.paired_difference(outs[f"gal:{b}"], outs[f"gcl:{b}"], outs["labels"], where=where))
            vis = torch.tensor([h is None for h in hidden])
            wv = torch.zeros_like(where); wv[vis] = where[~vis].any(0)
            print(b, "GCL-GAL visible", analysis.paired_difference(outs[f"gal:{b}"], outs[f"gcl:{b}"], outs["labels"], where=wv))
