import sys, time, json, torch, pathlib
from mggnet_lite.profiles import make_config
from mggnet_lite.train import train, pretrained_stage
from mggnet_lite.data.synthfaces import synthesize
if __name__ == "__main__":
    tag = sys.argv[1]; pre_over = json.loads(sys.argv[2]); head_over = json.loads(sys.argv[3])
    variants = sys.argv[4].split(","); crits = sys.argv[5].split(",")
    cfg = make_config("quick")
    root = synthesize("/work/exp11b/sf", n=cfg.synth_n, seed=0, progress=False, occlusion=cfg.synth_occlusion)
    pre_dir = pathlib.Path(f"/work/exp11b/{tag}/pre")
    for crit in crits:
      for v in variants:
        base = make_config("quick", root)
        sets = {"variant": v, "criterion": crit, "weights": str(pre_dir / "last.pt"),
                "pretrain": {**base.pretrain, **pre_over}, **head_over}
        cfg = make_config("quick", root, sets=sets)
        t=time.time()
        pretrained_stage(cfg, pre_dir, root, progress=False)
        if time.time()-t > 1: print("pre", time.time()-t, json.loads((pre_dir/"results.json").read_text())["mean_accuracy"], flush=True)
        t=time.time()
        r = train(cfg, f"/work/exp11b/{tag}/{v}-{crit}", root, progress=False)
        print(tag, v, crit, round(time.time()-t,1), round(r.report["mean_accuracy"],2), round(r.report["mean_balanced_accuracy"],2), round(r.report["majority_class"]["mean_accuracy"],2), flush=True)
