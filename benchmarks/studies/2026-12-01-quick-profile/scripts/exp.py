"""Pretrain backbone (baseline loss) -> frozen-feature GAL/GCL/heads -> optional end-to-end.

Usage: exp.py --name N --size 64 --width 64 --ntrain 16000 --pre-epochs 2 --head-epochs 30 ...
Logs JSON lines to /work/exp11/logs/<name>.jsonl.
"""
import argparse, json, math, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from torchvision.models.resnet import BasicBlock
import os; torch.set_num_threads(int(os.environ.get("THREADS", "1")))
import mggnet_lite.nn.mggnet as mg
from mggnet_lite.nn.backbones import Backbone, BLOCKS
from mggnet_lite.nn import build_model
from mggnet_lite.losses import mggnet_loss, bce, balanced_pos_weight
from mggnet_lite.metrics import AttributeMetrics, majority_accuracy
from mggnet_lite.data import IMAGENET_MEAN, IMAGENET_STD
from mggnet_lite import book
from mggnet_lite.nn.mggnet import MGGOutput

p = argparse.ArgumentParser()
p.add_argument("--name", required=True)
p.add_argument("--data", default="/work/exp11/data/sf20k_t")
p.add_argument("--size", type=int, default=64)
p.add_argument("--width", type=int, default=64)
p.add_argument("--depth", default="2,2,2,2")
p.add_argument("--ntrain", type=int, default=100000)
p.add_argument("--pre", default="baseline")  # baseline | mggnet (scratch e2e) | none
p.add_argument("--pre-epochs", type=float, default=2)
p.add_argument("--pre-lr", type=float, default=0.1)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--head-epochs", type=int, default=0)
p.add_argument("--head-lr", type=float, default=2e-3)
p.add_argument("--head-crit", default="prediction,balanced")
p.add_argument("--e2e-epochs", type=float, default=0)
p.add_argument("--e2e-lr", type=float, default=0.01)
p.add_argument("--variant", default="mggnet")
p.add_argument("--taps", default="block3,block4")
p.add_argument("--alpha", type=float, default=0.5)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--save", default="")
p.add_argument("--occlude", default="")
p.add_argument("--load", default="")
p.add_argument("--gal-norm", action="store_true")  # f_i = sum M F / sum M (not in the paper)
a = p.parse_args()
torch.manual_seed(a.seed)
LOG = open(f"/work/exp11/logs/{a.name}.jsonl", "a")
def log(**kw):
    kw["name"] = a.name; s = json.dumps(kw); print(s, flush=True); LOG.write(s + "\n"); LOG.flush()
log(args=vars(a))

def narrow_resnet(w, depth):
    m = nn.Module()
    m.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False); m.bn1 = nn.BatchNorm2d(w)
    m.relu = nn.ReLU(inplace=True); m.maxpool = nn.MaxPool2d(3, 2, 1)
    inp = w
    for i, (mult, stride, n) in enumerate(zip((1, 2, 4, 8), (1, 2, 2, 2), depth)):
        out = w * mult; blocks = []
        for j in range(n):
            s = stride if j == 0 else 1
            ds = None
            if s != 1 or inp != out:
                ds = nn.Sequential(nn.Conv2d(inp, out, 1, s, bias=False), nn.BatchNorm2d(out))
            blocks.append(BasicBlock(inp, out, s, ds)); inp = out
        setattr(m, f"layer{i+1}", nn.Sequential(*blocks))
    for mod in m.modules():
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
    return m

W, DEPTH = a.width, [int(x) for x in a.depth.split(",")]
def my_backbone(name, taps, weights):
    m = narrow_resnet(W, DEPTH)
    stages = [nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool), m.layer1, m.layer2, m.layer3, m.layer4]
    ch = [W, W, 2 * W, 4 * W, 8 * W]
    return Backbone("resnet18", nn.ModuleDict(dict(zip(BLOCKS, stages))), dict(zip(BLOCKS, ch)), taps)
mg.build_backbone = my_backbone

if a.gal_norm:
    import mggnet_lite.nn.gal as galmod
    def _fwd(self, feat):
        m = self.masks(feat)
        f = torch.bmm(m.flatten(2), feat.flatten(2).transpose(1, 2)) / m.flatten(2).sum(-1, keepdim=True).clamp_min(1e-3)
        return f, m
    galmod.GroupAttention.forward = _fwd
taps = tuple(a.taps.split(","))
model = build_model(a.variant, "resnet18", None, taps=taps, alpha=a.alpha)
log(params=sum(p.numel() for p in model.parameters()),
    backbone_params=sum(p.numel() for p in model.backbone.parameters()))

def load(split):
    d = torch.load(f"{a.data}/{split}.pt", weights_only=False)
    return d
TR, VA, TE = load("train"), load("valid"), load("test")
xk = f"x{a.size}"
xtr, ytr = TR[xk][:a.ntrain], TR["labels"][:a.ntrain].float()
xva, yva = VA[xk], VA["labels"].float()
xte, yte = TE[xk], TE["labels"].float()
log(n_train=len(xtr), n_valid=len(xva), n_test=len(xte), majority=majority_accuracy(ytr, yte))
mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255
std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255
def norm(xb, flip=None):
    x = (xb.float() - mean) / std
    if flip is not None:
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    return x
PW = balanced_pos_weight(ytr)

def train_images(params, epochs, lr, loss_fn, tag):
    """SGD over the images, step schedule: lr for first 80% of steps, lr/10 after."""
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4)
    n = len(xtr); steps = int(math.ceil(epochs * n / a.batch)); lo = int(0.8 * steps)
    g = torch.Generator().manual_seed(a.seed)
    perm = torch.cat([torch.randperm(n, generator=g) for _ in range(int(math.ceil(epochs)) + 1)])
    model.train(); t0 = time.time(); tot = 0.0
    for s in range(steps):
        if s == lo:
            for gr in opt.param_groups: gr["lr"] = lr / 10
        idx = perm[s * a.batch:(s + 1) * a.batch]
        x = norm(xtr[idx], torch.rand(len(idx), generator=g) < 0.5)
        loss = loss_fn(x, ytr[idx])
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); tot += float(loss.detach())
        if (s + 1) % 100 == 0:
            log(stage=tag, step=s + 1, of=steps, loss=tot / 100, s=round(time.time() - t0, 1)); tot = 0
    dt = time.time() - t0
    log(stage=tag, done=True, steps=steps, images=steps * a.batch, seconds=round(dt, 1),
        img_s=round(steps * a.batch / dt, 1))
    return dt

def base_loss(x, y):
    f = model.backbone(x)["final"]
    return bce(model.base_head(F.adaptive_avg_pool2d(f, 1).flatten(1)), y)

def full_loss(x, y):
    return mggnet_loss(model(x), y)

@torch.no_grad()
def features(x):
    model.eval(); out = {b: [] for b in (*model.backbone.taps, "final")}
    for i in range(0, len(x), 256):
        f = model.backbone(norm(x[i:i + 256]))
        for b in model.backbone.taps: out[b].append(f[b].half())
        out["final"].append(F.adaptive_avg_pool2d(f["final"], 1).flatten(1))
    return {b: torch.cat(v) for b, v in out.items()}

def heads_forward(feats):
    base = model.base_head(feats["final"].float())
    out = MGGOutput(probs=base, base_logits=base, fused_logits=[base])
    for b in model.backbone.taps:
        f, out.masks[b] = model.gal[b](feats[b].float())
        out.gal_logits[b] = model.heads[b](f)
        if b in model.gcl:
            gg, out.affinity[b] = model.gcl[b](f)
            out.gcl_logits[b] = model.heads[b](gg)
        out.fused_logits.append(out.gcl_logits.get(b, out.gal_logits[b]))
    out.probs = torch.stack([torch.sigmoid(z) for z in out.fused_logits]).mean(0)
    return out

def tune_thresholds(pv, yv):
    grid = torch.linspace(0.01, 0.99, 99)
    best = torch.full((pv.shape[1],), 0.5)
    for j in range(pv.shape[1]):
        pos = yv[:, j] > 0.5
        if pos.all() or (~pos).all(): continue
        pred = pv[:, j:j + 1] >= grid  # (M, 99)
        tpr = (pred & pos[:, None]).float().sum(0) / pos.sum()
        tnr = (~pred & ~pos[:, None]).float().sum(0) / (~pos).sum()
        best[j] = grid[int(torch.argmax(tpr + tnr))]
    return best

def metrics(probs, y, thr=0.5):
    m = AttributeMetrics(40); 
    if isinstance(thr, torch.Tensor):
        m.update((probs >= thr).float(), y)  # pre-thresholded
    else:
        m.threshold = thr; m.update(probs, y)
    s = m.summary(); return round(s["mean_accuracy"], 2), round(s["mean_balanced_accuracy"], 2)

TRUTH = None
def lift(masks):
    global TRUTH
    from mggnet_lite.data.synthfaces import unpack_masks
    pk = TE["masks_packed"]; K = masks.shape[1]
    scores, unif = torch.zeros(K), torch.zeros(K)
    for i in range(0, len(pk), 200):
        t = torch.from_numpy(np.stack([unpack_masks(q) for q in pk[i:i + 200].numpy()]))
        scores += book.localisation(masks[i:i + 200], t).sum(0)
        unif += t.float().mean((-2, -1)).sum(0)
    L = scores / unif
    return [round(float(v), 2) for v in L]

@torch.no_grad()
def evaluate(tag, feats_va=None, feats_te=None):
    model.eval()
    def run(x, feats):
        outs = []
        if feats is not None:
            n = len(feats["final"])
            for i in range(0, n, 256):
                outs.append(heads_forward({b: v[i:i + 256] for b, v in feats.items()}))
        else:
            for i in range(0, len(x), 256):
                outs.append(model(norm(x[i:i + 256])))
        cat = lambda get: torch.cat([get(o) for o in outs])
        res = {"probs": cat(lambda o: o.probs)}
        for b in model.backbone.taps:
            res[f"mask_{b}"] = cat(lambda o: o.masks[b])
            res[f"gal_{b}"] = cat(lambda o: torch.sigmoid(o.gal_logits[b]))
            if b in model.gcl:
                res[f"aff_{b}"] = cat(lambda o: o.affinity[b])
                res[f"gcl_{b}"] = cat(lambda o: torch.sigmoid(o.gcl_logits[b]))
        res["base"] = cat(lambda o: torch.sigmoid(o.base_logits))
        return res
    rv, rt = run(xva, feats_va), run(xte, feats_te)
    thr = tune_thresholds(rv["probs"], yva)
    acc, bal = metrics(rt["probs"], yte)
    acc_t, bal_t = metrics(rt["probs"], yte, thr)
    grid = torch.linspace(0.01, 0.99, 99)
    thr_a = torch.stack([grid[int(torch.argmax(((rv["probs"][:, j:j + 1] >= grid) == (yva[:, j:j + 1] > 0.5)).float().mean(0)))] for j in range(40)])
    acc_a, bal_a = metrics(rt["probs"], yte, thr_a)
    r = dict(stage=tag, acc=acc, bal=bal, acc_thr=acc_t, bal_thr=bal_t, acc_accthr=acc_a, bal_accthr=bal_a,
             base_acc_bal=metrics(rt["base"], yte))
    for b in model.backbone.taps:
        L = lift(rt[f"mask_{b}"]); r[f"lift_{b}"] = L
        r[f"lift_{b}_mean"] = round(sum(L) / len(L), 2); r[f"lift_{b}_n2"] = sum(v >= 2 for v in L)
        r[f"gal_{b}_acc_bal"] = metrics(rt[f"gal_{b}"], yte)
        if f"aff_{b}" in rt:
            me = rt[f"aff_{b}"].mean(0); K = me.shape[0]
            off = ~torch.eye(K, dtype=torch.bool)
            r[f"aff_{b}_dev"] = round(float((me - 1 / (K - 1)).abs()[off].mean()), 4)
            r[f"aff_{b}_range"] = [round(float(me[off].min()), 3), round(float(me[off].max()), 3)]
            r[f"gcl_{b}_acc_bal"] = metrics(rt[f"gcl_{b}"], yte)
        r[f"mask_{b}_mean"] = round(float(rt[f"mask_{b}"].mean()), 3)
    log(**r)
    return rt

@torch.no_grad()
def occlusion_eval(groups):
    """Test-time occlusion prototype: paint group g's true region dark on every test image."""
    from mggnet_lite.data.synthfaces import unpack_masks, GROUP_NAMES
    model.eval()
    truth = torch.from_numpy(np.stack([unpack_masks(q) for q in TE["masks_packed"].numpy()]))
    attrs = model.attributes
    def run(x):
        outs = [model(norm(x[i:i + 256])) for i in range(0, len(x), 256)]
        r = {"probs": torch.cat([o.probs for o in outs])}
        for b in model.backbone.taps:
            r[f"gal_{b}"] = torch.cat([torch.sigmoid(o.gal_logits[b]) for o in outs])
            if b in model.gcl:
                r[f"gcl_{b}"] = torch.cat([torch.sigmoid(o.gcl_logits[b]) for o in outs])
                r[f"aff_{b}"] = torch.cat([o.affinity[b] for o in outs])
        r["base"] = torch.cat([torch.sigmoid(o.base_logits) for o in outs])
        return r
    vis = run(xte)
    for g in groups:
        k = GROUP_NAMES.index(g)
        m = F.interpolate(truth[:, k:k + 1].float(), size=(a.size, a.size), mode="area") > 0.25
        x_occ = torch.where(m.expand(-1, 3, -1, -1), torch.full_like(xte, 20), xte)
        occ = run(x_occ)
        cols = [attrs.index(t) for t in model.groups[g]]
        r = {"stage": "occlusion", "group": g, "attrs": list(model.groups[g])}
        for key in vis:
            if key.startswith("aff"):
                continue
            for tag, res in (("vis", vis), ("occ", occ)):
                pr = res[key][:, cols]; yy = yte[:, cols]
                mm = AttributeMetrics(len(cols)); mm.update(pr, yy); sm = mm.summary()
                r[f"{key}_{tag}"] = [round(sm["mean_accuracy"], 2), round(sm["mean_balanced_accuracy"], 2)]
        for b in model.backbone.taps:
            if f"aff_{b}" in vis:
                r[f"aff_{b}_row_vis"] = [round(float(v), 3) for v in vis[f"aff_{b}"][:, k].mean(0)]
                r[f"aff_{b}_row_occ"] = [round(float(v), 3) for v in occ[f"aff_{b}"][:, k].mean(0)]
        log(**r)

T = {}
if a.load:
    st = torch.load(a.load, weights_only=True)
    model.load_state_dict({k: v for k, v in st.items() if k.startswith(("backbone.", "base_head."))}, strict=False)
    log(loaded=a.load)
t_start = time.time()
if a.pre == "baseline" and a.pre_epochs > 0:
    T["pre"] = train_images(list(model.backbone.parameters()) + list(model.base_head.parameters()),
                            a.pre_epochs, a.pre_lr, base_loss, "pre")
elif a.pre == "mggnet" and a.pre_epochs > 0:
    T["pre"] = train_images(model.parameters(), a.pre_epochs, a.pre_lr, full_loss, "pre_e2e")
    evaluate("after_pre_e2e")
if a.head_epochs > 0:
    t0 = time.time()
    ftr, fva, fte = features(xtr), features(xva), features(xte)
    T["extract"] = time.time() - t0
    log(stage="extract", seconds=round(T["extract"], 1))
    init = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("backbone.")}
    for crit in a.head_crit.split(","):
        model.load_state_dict(init, strict=False)
        hp = [p for n_, p in model.named_parameters() if not n_.startswith("backbone.")]
        opt = torch.optim.Adam(hp, lr=a.head_lr)
        n = len(ytr); bs = 128; steps = a.head_epochs * math.ceil(n / bs)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, a.head_lr, total_steps=steps, pct_start=0.1)
        pw = PW if crit == "balanced" else None
        t0 = time.time(); s = 0
        for ep in range(a.head_epochs):
            model.train(); perm = torch.randperm(n)
            for i in range(0, n, bs):
                idx = perm[i:i + bs]
                out = heads_forward({b: v[idx] for b, v in ftr.items()})
                loss = mggnet_loss(out, ytr[idx], pw)
                opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); sched.step(); s += 1
        T[f"heads_{crit}"] = time.time() - t0
        log(stage=f"heads_{crit}", seconds=round(T[f"heads_{crit}"], 1), loss=float(loss))
        evaluate(f"frozen_{crit}", fva, fte)
        if crit == "prediction":
            pred_state = {k: v.clone() for k, v in model.state_dict().items()}
    if "prediction" in a.head_crit:
        model.load_state_dict(pred_state)
if a.e2e_epochs > 0:
    T["e2e"] = train_images(model.parameters(), a.e2e_epochs, a.e2e_lr, full_loss, "e2e")
    evaluate("e2e")
T["total"] = time.time() - t_start
log(timings={k: round(v, 1) for k, v in T.items()})
if a.occlude:
    occlusion_eval(a.occlude.split(","))
if a.save:
    torch.save(model.state_dict(), a.save)
