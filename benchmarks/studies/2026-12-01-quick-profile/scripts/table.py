import json, glob
for f in sorted(glob.glob("/work/exp11/logs/E*.jsonl")):
    for l in open(f):
        r = json.loads(l)
        if str(r.get("stage", "")).startswith(("frozen", "e2e", "after")):
            g = lambda b: f"{r[f'lift_{b}_mean']}/{r[f'lift_{b}_n2']}/max{max(r[f'lift_{b}'])}"
            print(f"{r['name']:<24}{r['stage']:<18} acc {r['acc']:6.2f} bal {r['bal']:6.2f} | thr: acc {r['acc_thr']:6.2f} bal {r['bal_thr']:6.2f} | base {r['base_acc_bal']} | L3 {g('block3')} {r['lift_block3']} | L4 {g('block4')} | dev {r['aff_block3_dev']} {r['aff_block4_dev']}")
        if "timings" in r: print("   ", r["name"], r["timings"])
        if r.get("done"): print("   ", r["name"], r["stage"], r["images"], "img", r["seconds"], "s", r["img_s"], "img/s")
