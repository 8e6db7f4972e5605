"""Issue 11: does variation learned in the large classes, applied to the rare ones, beat strong augmentation?

Setup of shared/REFERENCE.md: mnist5k, stratified test split of 1,000 (random_state 0), the rest made
long-tailed at IR 100 (or --ir), the reference CNN, Adam 1e-3, 1,500 steps at batch 64, class-balanced
sampling (a class uniformly, then one of its real images uniformly). Runs: every arm × classifier seeds ×
long-tail draws; each run's result is cached as JSON under --cache, so the script resumes.

An arm is a spec string of comma-separated key=value pairs:
  aug=affine|strong|none       the batched augmentation on every item (strong = elastic, then affine)
  aug=tv                       torchvision's v2.RandomAffine item by item (REFERENCE.md's classic-aug)
  interp=bilinear|nearest      grid_sample's interpolation for the batched augmentations
  deform=P                     probability that an item of a deform class is replaced by a learned warp of itself
  scope=rare|all               deform classes: those with under --rare-below images, or all
  temp=T                       temperature of the warp distribution
  grid=G, pairs=N, minsize=M   registration grid, number of same-class pairs, smallest class pairs come from
  trim=Q                       keep the pairs whose warp is in the smallest Q fraction (Mahalanobis distance)
  regsteps, smooth, sigma      registration steps, smoothness weight, blur of the registration loss
  warmup=F                     no warps during the first F of the steps (GIT's warm-up)
  finetune=S                   then S more steps on real images only, training the last layer alone (SYNAuG)

  python benchmarks/variation_transfer.py --arms "aug=affine" "aug=strong" "aug=strong,deform=0.5"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cgan_augment.data.load import DataSpec, load_data
from cgan_augment.generators.deform import DeformConfig, fit_deform_generator
from cgan_augment.data.subsets import long_tailed_indices
from cgan_augment.report import build_classifier
from cgan_augment.mixing.augmentation import Augmentation

DEFAULTS = {"aug": "affine", "interp": "bilinear", "deform": 0.0, "scope": "rare", "temp": 0.5, "grid": 5, "pairs": 1000,
            "minsize": 40, "trim": 1.0, "regsteps": 100, "smooth": 1.0, "sigma": 1.5,
            "warmup": 0.0, "finetune": 0}


def parse_arm(spec: str, defaults: dict = DEFAULTS) -> dict:
    """An arm's settings: ``defaults`` with the spec's comma-separated key=value pairs, each cast to its default's type."""
    arm = dict(defaults)
    for part in filter(None, spec.split(",")):
        key, value = part.split("=")
        if key not in arm:
            raise SystemExit(f"unknown arm key {key!r} in {spec!r}; known: {', '.join(arm)}")
        arm[key] = type(defaults[key])(value) if not isinstance(defaults[key], str) else value
    return arm


def load_split(ir: float, draw: int):
    """(train uint8 N×1×28×28, train labels, test images, test labels) of one long-tail draw."""
    data = load_data(DataSpec("builtin:mnist5k", test_split=1000, seed=0))  # the report's split
    full = data.train.dataset
    images, targets = full.images, torch.as_tensor(full.targets)
    train_idx, test_idx = np.array(data.train.indices), np.array(data.test.indices)
    keep = long_tailed_indices(targets[train_idx].tolist(), 10, ir, draw)
    train_idx = train_idx[keep]
    return images[train_idx], targets[train_idx], images[test_idx], targets[test_idx]


def fit_deformations(x: torch.Tensor, y: torch.Tensor, arm: dict, seed: int):
    config = DeformConfig(grid=arm["grid"], temperature=arm["temp"], pairs=arm["pairs"], min_class_size=arm["minsize"],
                          registration_steps=arm["regsteps"], smoothness=arm["smooth"], sigma=arm["sigma"],
                          trim=arm["trim"], seed=seed)
    start = time.time()
    g = fit_deform_generator(x, y, [str(k) for k in range(10)], config)
    return g, {"fit_s": round(time.time() - start, 1), "registration_error": round(g.metadata["registration_error"], 5)}


def _augmentation(name: str, mode: str):
    """The batched augmentation of an arm: a callable (x, gen) -> x, or None."""
    plain, strong = Augmentation(), Augmentation.strong()
    if name == "none":
        return None
    if name in ("affine", "strong"):
        augment = plain if name == "affine" else strong
        return lambda x, gen: augment(x, gen, mode=mode)
    if name == "tv":
        from torchvision.transforms import v2

        tv = v2.RandomAffine(degrees=plain.degrees, translate=(plain.translate,) * 2,
                             scale=(1 - plain.scale, 1 + plain.scale))

        def per_item(x, gen):  # torchvision draws from torch's global generator, seeded by run()
            return torch.stack([tv(item) for item in x])
        return per_item
    raise SystemExit(f"unknown aug {name!r}")


def run(arm: dict, x: torch.Tensor, y: torch.Tensor, xt: torch.Tensor, yt: torch.Tensor, seed: int,
        deform, rare_below: int, steps: int = 1500, batch: int = 64) -> dict:
    from sklearn.metrics import balanced_accuracy_score, recall_score

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build_classifier("cnn", 1, 28, 10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    augment = _augmentation(arm["aug"], arm["interp"])
    counts = torch.bincount(y, minlength=10)
    members = [torch.nonzero(y == c).squeeze(1) for c in range(10)]
    deform_class = (counts < rare_below) if arm["scope"] == "rare" else torch.ones(10, dtype=torch.bool)
    xf = x.float() / 255
    finetune = arm["finetune"]
    for step in range(steps + finetune):
        if step == steps:  # SYNAuG: the last layer alone, on real images only
            head = list(model.parameters())[-2:]
            for param in model.parameters():
                param.requires_grad_(False)
            for param in head:
                param.requires_grad_(True)
            opt = torch.optim.Adam(head, lr=1e-3)
        cls = torch.randint(10, (batch,), generator=gen)
        pick = torch.rand(batch, generator=gen)
        idx = torch.stack([members[c][min(int(p * len(members[c])), len(members[c]) - 1)] for c, p in zip(cls.tolist(), pick.tolist())])
        xb = xf[idx]
        if deform is not None and arm["deform"] > 0 and arm["warmup"] * steps <= step < steps:
            swap = deform_class[cls] & (torch.rand(batch, generator=gen) < arm["deform"])
            if swap.any():
                xb = xb.clone()
                xb[swap] = deform.vary(xb[swap], generator=gen)
        if augment is not None:
            xb = augment(xb, gen)
        loss = F.cross_entropy(model(xb), cls)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(xt[i:i + 500].float() / 255).argmax(1) for i in range(0, len(xt), 500)])
    return {"balanced_accuracy": float(balanced_accuracy_score(yt, pred)),
            "recall": [float(r) for r in recall_score(yt, pred, labels=list(range(10)), average=None, zero_division=0)]}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arms", nargs="+", required=True)
    p.add_argument("--ir", type=float, default=100)
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--draws", default="0,1")
    p.add_argument("--rare-below", type=int, default=40, help="classes with fewer training images get warps (scope=rare)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--cache", default="benchmarks/runs/variation_transfer")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    draws = [int(s) for s in args.draws.split(",")]
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    for draw in draws:
        x, y, xt, yt = load_split(args.ir, draw)
        fitted = {}  # deformation settings -> (model, info), shared by the arms of this draw
        for spec in args.arms:
            arm = parse_arm(spec)
            deform_key = tuple(arm[k] for k in ("grid", "temp", "pairs", "minsize", "trim", "regsteps", "smooth", "sigma"))
            deform, info = fitted.get(deform_key, (None, {}))
            for seed in seeds:
                key = f"ir{args.ir:g}_d{draw}_s{seed}_st{args.steps}_rb{args.rare_below}_" + spec.replace("=", "").replace(",", "_")
                path = cache / f"{key}.json"
                if path.exists():
                    continue
                if arm["deform"] > 0 and deform is None:
                    deform, info = fitted[deform_key] = fit_deformations(x, y, arm, seed=draw)
                    print(f"draw {draw} {spec}: deformations {info}", flush=True)
                start = time.time()
                result = run(arm, x, y, xt, yt, seed, deform, args.rare_below, steps=args.steps)
                result.update(spec=spec, draw=draw, seed=seed, ir=args.ir, seconds=round(time.time() - start, 1),
                              deform_info=info, machine=platform.machine(), threads=torch.get_num_threads())
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(result))
                os.replace(tmp, path)
                print(f"draw {draw} seed {seed} {spec}: {result['balanced_accuracy']:.4f} ({result['seconds']} s)", flush=True)
    summarize(cache, args)


def summarize(cache: Path, args) -> None:
    rows = [json.loads(p.read_text()) for p in cache.glob("*.json")]
    rows = [r for r in rows if r["ir"] == args.ir and r["spec"] in args.arms]
    by = {}
    for r in rows:
        by.setdefault(r["spec"], {})[(r["draw"], r["seed"])] = r
    base = args.arms[0]
    print(f"\nIR {args.ir:g}; paired against {base!r} over (draw, seed)")
    print("| arm | runs | balanced accuracy | paired gain (points) | 95% t-interval | recall of classes 6-9 |")
    print("|---|---|---|---|---|---|")
    from scipy import stats

    for spec in args.arms:
        runs = by.get(spec, {})
        if not runs:
            continue
        acc = np.array([r["balanced_accuracy"] for r in runs.values()])
        rec = np.mean([r["recall"][6:] for r in runs.values()], 0)
        keys = sorted(set(runs) & set(by.get(base, {})))
        gain = ""
        interval = ""
        if spec != base and len(keys) > 1:
            d = np.array([runs[k]["balanced_accuracy"] - by[base][k]["balanced_accuracy"] for k in keys]) * 100
            half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
            gain = f"{d.mean():+.2f} ± {d.std(ddof=1):.2f} (se {d.std(ddof=1) / np.sqrt(len(d)):.2f})"
            interval = f"[{d.mean() - half:+.2f}, {d.mean() + half:+.2f}]"
        print(f"| {spec} | {len(acc)} | {acc.mean():.4f} ± {acc.std(ddof=1) if len(acc) > 1 else 0:.4f} | {gain} | {interval} | "
              + " ".join(f"{v:.2f}" for v in rec) + " |")


if __name__ == "__main__":
    main()
