import sys, time, json, torch
from mggnet_lite.profiles import make_config
from mggnet_lite.train import train
from mggnet_lite.data.synthfaces import synthesize
if __name__ == "__main__":
    t=time.time()
    cfg = make_config("quick")
    root = synthesize("/work/exp11b/sf", n=cfg.synth_n, seed=0, progress=False, occlusion=cfg.synth_occlusion)
    print("render", time.time()-t, flush=True)
    for crit in sys.argv[2].split(","):
      for v in sys.argv[1].split(","):
        cfg = make_config("quick", root, sets={"variant": v, "criterion": crit, "weights": "/work/exp11b/pre/last.pt"})
        from mggnet_lite.train import pretrained_stage
        t=time.time()
        pretrained_stage(cfg, __import__("pathlib").Path("/work/exp11b/pre"), root, progress=False)
        print("pre", time.time()-t, flush=True)
        t=time.time()
        r = train(cfg, f"/work/exp11b/{v}-{crit}", root, progress=False)
        print(v, crit, time.time()-t, r.report["mean_accuracy"], r.report["mean_balanced_accuracy"], r.report["majority_class"]["mean_accuracy"], r.report["time_s"], flush=True)
