"""Issue 20: generated data against the long-tail field's own recipe, and against the real-data ceiling.

Setup of shared/REFERENCE.md, for ``--data mnist5k`` or ``fashion5k``: the report's stratified test
split of 1,000 (seed 0), the rest long-tailed at IR 100 (``long_tailed_indices(..., seed=draw)``),
the reference CNN, Adam 1e-3, 1,500 steps at batch 64. Every arm runs under the same (draw, seed)
pairs. Three generators, all seeded from the run's seed, keep arms paired as far as they can be:
one draws the batches (so two arms with the same sampler see the same items), one the
replacements (top-up, warps), one the augmentation and mixup. Each run is cached as JSON under
``--cache``, so the script resumes; the summary is printed at the end.

An arm is a spec string of comma-separated key=value pairs (defaults in DEFAULTS):
  aug=affine|strong|none   batched augmentation on every item (strong = elastic, then affine)
  flips=1                  a random horizontal flip in the affine (clothes)
  loss=ce|la               la: logit-adjusted cross-entropy, logits + tau·log(prior), tau = 1
  sampler=bal|inst         class-balanced (a class uniformly, then one of its images) or instance
  mixup=1                  input mixup, lambda ~ U(0, 1), one per batch
  topup=P                  the ceiling: an item of a class under --rare-below images is replaced with
                           probability P by a random unused real image of its class
  deform=P                 ... or by a learned warp of itself (cgan_augment.generators.deform; temp, trim)
  select=K                 draw K warps per item, keep the hardest the classifier still assigns
  app=P                    then, with probability P, appearance transfer (thickness, brightness);
                           alone (no deform, no topup): an item is replaced by its appearance change
  head=1                   also score two post-hoc last-layer retrainings of the trained network:
                           [crt] (real features only) and [dc] (+ distribution-calibrated features)

  python benchmarks/beat_the_field.py --data mnist5k --draws 10,11,12 --seeds 0 --arms "aug=strong" ...
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from field_methods import Appearance, head_retrain, np_t_interval, select_hardest  # noqa: E402
from variation_transfer import parse_arm as _parse_arm  # noqa: E402

from cgan_augment.mixing.augmentation import Augmentation  # noqa: E402
from cgan_augment.data.load import DataSpec, load_data  # noqa: E402
from cgan_augment.data.subsets import long_tailed_indices  # noqa: E402
from cgan_augment.report import build_classifier  # noqa: E402

DEFAULTS = {"aug": "affine", "flips": 0, "loss": "ce", "sampler": "bal", "mixup": 0, "topup": 0.0, "deform": 0.0,
            "temp": 0.75, "trim": 0.95, "select": 0, "app": 0.0, "head": 0}


def parse_arm(spec: str) -> dict:
    return _parse_arm(spec, DEFAULTS)


def load_split(dataset: str, ir: float, draw: int):
    """Long-tailed training images and labels, the test images and labels, and the unused real
    training images and labels (the top-up pool), all uint8 N×1×28×28 / int64."""
    data = load_data(DataSpec(f"builtin:{dataset}", test_split=1000, seed=0))
    full = data.train.dataset
    images, targets = full.images, torch.as_tensor(full.targets)
    train_idx, test_idx = np.array(data.train.indices), np.array(data.test.indices)
    keep = np.asarray(long_tailed_indices(targets[train_idx].tolist(), 10, ir, draw))
    unused = np.setdiff1d(np.arange(len(train_idx)), keep)
    tr, pool = train_idx[keep], train_idx[unused]
    return images[tr], targets[tr], images[test_idx], targets[test_idx], images[pool], targets[pool]


def deform_model(dataset: str, ir: float, draw: int, x, y, arm: dict, cache: Path):
    """The deform generator of one draw, fitted once and kept under ``cache``."""
    from cgan_augment.generators.deform import DeformConfig, fit_deform_generator

    path = cache / f"deform_{dataset}_ir{ir:g}_d{draw}_t{arm['temp']}_q{arm['trim']}.pt"
    if path.exists():
        try:
            return torch.load(path, weights_only=False)
        except (ImportError, AttributeError):  # pickled before a module moved: fit it again (deterministic)
            print(f"  {path.name}: stale pickle, refitting", flush=True)
    start = time.time()
    g = fit_deform_generator(x, y, [str(k) for k in range(10)],
                             DeformConfig(temperature=arm["temp"], trim=arm["trim"], seed=draw))
    info = {"fit_s": round(time.time() - start, 1), "registration_error": round(g.metadata["registration_error"], 5)}
    torch.save((g, info), path.with_suffix(".tmp"))
    os.replace(path.with_suffix(".tmp"), path)
    print(f"  deform fit {dataset} draw {draw}: {info}", flush=True)
    return g, info


def _augmentation(arm: dict):
    if arm["aug"] == "none":
        return None
    if arm["aug"] not in ("affine", "strong"):
        raise SystemExit(f"unknown aug {arm['aug']!r}")
    aug = (Augmentation.strong if arm["aug"] == "strong" else Augmentation)(flips=bool(arm["flips"]))
    return lambda x, gen: aug(x, gen)


def _replace(arm, xb, cls, rare, pools, deform, appearance, model, gens):
    """The rare-class replacements of one batch: real top-up, learned warps, appearance."""
    gen = gens["swap"]
    batch = len(cls)
    swap = rare[cls] & (torch.rand(batch, generator=gen) < max(arm["topup"], arm["deform"], arm["app"]))
    if not swap.any():
        return xb
    xb = xb.clone()
    where = torch.nonzero(swap).squeeze(1)
    if arm["topup"] > 0:
        for i in where.tolist():
            pool = pools[int(cls[i])]
            xb[i] = pool[torch.randint(len(pool), (1,), generator=gen)]
    if arm["deform"] > 0:
        k = max(1, arm["select"])
        src = xb[where].repeat(k, 1, 1, 1)
        warped = deform.vary(src, generator=gen)
        xb[where] = select_hardest(model, warped, cls[where], k) if k > 1 else warped
    if arm["app"] > 0:
        alone = arm["deform"] == 0 and arm["topup"] == 0  # then every replaced item gets the appearance change
        pick = where if alone else where[torch.rand(len(where), generator=gen) < arm["app"]]
        if len(pick):
            xb[pick] = appearance(xb[pick], gen)
    return xb


def run(arm: dict, split, seed: int, deform, rare_below: int, steps: int = 1500, batch: int = 64) -> dict:
    from sklearn.metrics import balanced_accuracy_score

    x8, y, xt8, yt, pool8, pool_y = split
    torch.manual_seed(seed)
    gens = {k: torch.Generator().manual_seed(seed * 7919 + i) for i, k in enumerate(("batch", "swap", "aug"))}
    model = build_classifier("cnn", 1, 28, 10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    augment = _augmentation(arm)
    counts = torch.bincount(y, minlength=10)
    rare = counts < rare_below
    members = [torch.nonzero(y == c).squeeze(1) for c in range(10)]
    x = x8.float() / 255
    pools = [pool8[pool_y == c].float() / 255 for c in range(10)]
    appearance = Appearance(x, y, min_size=rare_below) if arm["app"] > 0 else None
    log_prior = (counts.float() / counts.sum()).log()
    for _ in range(steps):
        if arm["sampler"] == "bal":
            cls = torch.randint(10, (batch,), generator=gens["batch"])
            pick = torch.rand(batch, generator=gens["batch"])
            idx = torch.stack([members[c][min(int(p * len(members[c])), len(members[c]) - 1)]
                               for c, p in zip(cls.tolist(), pick.tolist())])
        else:
            idx = torch.randint(len(y), (batch,), generator=gens["batch"])
            cls = y[idx]
        xb = _replace(arm, x[idx], cls, rare, pools, deform, appearance, model, gens)
        if augment is not None:
            xb = augment(xb, gens["aug"])
        if arm["mixup"]:
            lam = float(torch.rand(1, generator=gens["aug"]))
            perm = torch.randperm(batch, generator=gens["aug"])
            xb = lam * xb + (1 - lam) * xb[perm]
        logits = model(xb)
        if arm["loss"] == "la":
            logits = logits + log_prior
        loss = F.cross_entropy(logits, cls)
        if arm["mixup"]:
            loss = lam * loss + (1 - lam) * F.cross_entropy(logits, cls[perm])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def score(net):
        net.eval()
        with torch.no_grad():
            pred = torch.cat([net(xt8[i:i + 500].float() / 255).argmax(1) for i in range(0, len(xt8), 500)])
        return float(balanced_accuracy_score(yt, pred)), [float((pred[yt == c] == c).float().mean()) for c in range(10)]

    out = {}
    out["balanced_accuracy"], out["recall"] = score(model)
    if arm["head"]:
        for name, sampled in (("crt", False), ("dc", True)):
            out[name] = score(head_retrain(model, x, y, augment, seed, rare_below, sampled))[0]
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="mnist5k", choices=("mnist5k", "fashion5k"))
    p.add_argument("--arms", nargs="+", required=True)
    p.add_argument("--ir", type=float, default=100)
    p.add_argument("--seeds", default="0")
    p.add_argument("--draws", default="10,11,12")
    p.add_argument("--rare-below", type=int, default=40, help="classes with fewer training images get replacements")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--ceiling", default=None, help="the arm whose gain over the first arm is 100 %%")
    p.add_argument("--cache", default="benchmarks/runs/beat_the_field")
    p.add_argument("--summary-only", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    draws = [int(s) for s in args.draws.split(",")]
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    for draw in draws if not args.summary_only else []:
        split = None
        for spec in args.arms:
            arm = parse_arm(spec)
            for seed in seeds:
                path = cache / (f"{args.data}_ir{args.ir:g}_d{draw}_s{seed}_st{args.steps}_rb{args.rare_below}_"
                                + spec.replace("=", "").replace(",", "_") + ".json")
                if path.exists():
                    continue
                split = split or load_split(args.data, args.ir, draw)
                deform, info = (deform_model(args.data, args.ir, draw, split[0], split[1], arm, cache)
                                if arm["deform"] > 0 else (None, {}))
                start = time.time()
                result = run(arm, split, seed, deform, args.rare_below, steps=args.steps)
                result.update(data=args.data, spec=spec, draw=draw, seed=seed, ir=args.ir, steps=args.steps,
                              seconds=round(time.time() - start, 1), deform_info=info, machine=platform.machine(),
                              threads=torch.get_num_threads(), finished=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
                path.with_suffix(".tmp").write_text(json.dumps(result))
                os.replace(path.with_suffix(".tmp"), path)
                extra = "".join(f" {k} {result[k]:.4f}" for k in ("crt", "dc") if k in result)
                print(f"{args.data} draw {draw} seed {seed} {spec}: {result['balanced_accuracy']:.4f}{extra} "
                      f"({result['seconds']} s)", flush=True)
    summarize(cache, args, draws, seeds)


def summarize(cache: Path, args, draws, seeds) -> None:
    by = {}
    for path in cache.glob(f"{args.data}_ir{args.ir:g}_*.json"):
        r = json.loads(path.read_text())
        if r["spec"] not in args.arms or r["draw"] not in draws or r["seed"] not in seeds or r["steps"] != args.steps:
            continue
        by.setdefault(r["spec"], {})[(r["draw"], r["seed"])] = r["balanced_accuracy"]
        for k in ("crt", "dc"):
            if k in r:
                by.setdefault(f"{r['spec']} [{k}]", {})[(r["draw"], r["seed"])] = r[k]
    base = args.arms[0]
    names = [s for spec in args.arms for s in (spec, f"{spec} [crt]", f"{spec} [dc]") if s in by]
    ceiling = by.get(args.ceiling, {})
    print(f"\n{args.data}, IR {args.ir:g}, draws {args.draws}, seeds {args.seeds}; paired against {base!r}"
          + (f"; ceiling {args.ceiling!r}" if args.ceiling else ""))
    print("| arm | runs | balanced accuracy (mean ± sd) | per pair | paired gain (points) | 95 % t-interval | share of ceiling |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        runs = by[name]
        acc = np.array([runs[k] for k in sorted(runs)])
        keys = sorted(set(runs) & set(by.get(base, {})))
        gain = interval = share = ""
        if name != base and len(keys) > 1:
            d = np.array([runs[k] - by[base][k] for k in keys]) * 100
            mean, lo, hi = np_t_interval(d)
            gain, interval = f"{mean:+.2f} ± {d.std(ddof=1):.2f}", f"[{lo:+.2f}, {hi:+.2f}]"
            both = sorted(set(keys) & set(ceiling))
            if both and name != args.ceiling:
                room = np.mean([ceiling[k] - by[base][k] for k in both]) * 100
                share = f"{np.mean([runs[k] - by[base][k] for k in both]) * 100 / room:+.0%}" if room > 0 else ""
        print(f"| {name} | {len(acc)} | {acc.mean():.4f} ± {acc.std(ddof=1) if len(acc) > 1 else 0:.4f} | "
              f"{' '.join(f'{a:.3f}' for a in acc)} | {gain} | {interval} | {share} |")


if __name__ == "__main__":
    main()
