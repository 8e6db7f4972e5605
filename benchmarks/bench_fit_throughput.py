"""Training throughput (issue 12): the library's fit against a plain PyTorch loop, 1 → 2 gloo
processes, and (on a CUDA machine) sizes, bf16, torch.compile and pool generation.

CPU part (the default):

* **fit vs plain**, in one process, side by side: images/s (real images per second: batch size ×
  discriminator updates per step) of ``train_generator`` exactly as ``cgan-augment fit`` calls it
  (a fresh output folder per repeat, so log lines, grids and checkpoints are written on the
  fit's schedule) against a hand-written loop over the same nets (``cgan_augment.generators.networks``, built
  from the same seed), same batch, same class-balanced real batches, same hinge loss, same
  DiffAugment policy (the library's ``diff_augment``), same Adam settings, same mode-seeking
  term and EMA. Build and data loading are outside the timing: a fit is timed from its
  ``on_step`` callback at step ``--warmup`` to step ``--warmup + --window``. The sides take turns
  (A B C … then … C B A) for ``--repeats`` rounds; the ratio fit/plain of each round and its
  median are reported. Also in the rotation: the fit with its maintenance off (intervals larger
  than the run), the fit's own ``_build``/``_step`` (loop.py, step.py) and DataLoader driven without read-backs or
  files (``fit step``), and the plain loop without EMA and mode-seeking (what those cost).
  Afterwards one fit with a grid and checkpoint every 10 steps measures what one of those
  events costs, which gives the long-run cost at the default schedule (one every 500 steps).
* **1 → 2 gloo processes**: ``torchrun --standalone --nproc-per-node N cgan-augment fit`` at the
  same global batch, images/s from the fit's own ``log.jsonl`` (median over the log windows after
  the first, so start-up is left out), 1 thread per process; 1 process with 2 threads for
  comparison.

``--gpu-suite`` (needs CUDA; on a machine without it every row says "not run: no CUDA device"):
images/s at 28 px (builtin:mnist5k), 32 px (builtin:colour-mnist5k) and 64 px (colour-mnist5k
resized), fp32 and bf16, for the fit, the plain loop, and the fit step and plain loop with G and
D compiled (``torch.compile``; the library has no compile option: this is the measurement that
would justify one), and ``SyntheticDataset`` pool generation in samples/s.

    OMP_NUM_THREADS=1 python benchmarks/bench_fit_throughput.py --compile        # 2-core CPU: about 6 minutes
    OMP_NUM_THREADS=1 python benchmarks/bench_fit_throughput.py --skip-torchrun --repeats 3
    python benchmarks/bench_fit_throughput.py --gpu-suite --gpu-sizes 28 32      # one CUDA GPU (not yet timed there)
    python benchmarks/bench_fit_throughput.py --gpu-suite --gpu-sizes 64
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from cgan_augment import DataSpec, SyntheticDataset, load_data
from cgan_augment.data.subsets import dataset_tensors
from cgan_augment.train.diffaugment import diff_augment
from cgan_augment.generators.networks import build_discriminator, build_generator
from cgan_augment.train import RunSettings, TrainConfig, train_generator
from cgan_augment.train.loop import _build, _distribute
from cgan_augment.train.step import _step
from cgan_augment.train.sampler import _StepBatchSampler

NEVER = 10**9  # an interval longer than any run here: that maintenance never happens


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _arch(train, config: TrainConfig) -> dict:
    return dict(family=config.family, num_classes=len(train.classes), image_size=train.image_size,
                channels=train.channels, z_dim=config.z_dim, width=config.width)


# ----------------------------------------------------------------------------- the three kinds of loop


class _Fit:
    """``train_generator`` as ``cgan-augment fit`` calls it; each ``measure`` is a fresh fit in a
    fresh folder, timed between its ``on_step`` calls at ``warmup`` and ``warmup + window``."""

    def __init__(self, train, config: TrainConfig, run: RunSettings, device: torch.device):
        self.train, self.config, self.run, self.device = train, config, run, device

    def measure(self, warmup: int, window: int) -> float:
        times, end = {}, warmup + window

        def on_step(step, total, stats):
            if step in (warmup, end):
                _sync(self.device)
                times[step] = time.perf_counter()

        with tempfile.TemporaryDirectory() as tmp:
            train_generator(self.train, replace(self.config, steps=end), Path(tmp) / "fit", run=self.run,
                            on_step=on_step, should_stop=lambda: False)
        return times[end] - times[warmup]

    def events(self, warmup: int, window: int) -> dict:
        """What the fit did inside the window: the read-backs of steps warmup+1..end (the last step always
        reads back), and the files of steps warmup..end-1 (those of ``end`` come after its on_step)."""
        run, end = self.run, warmup + window
        after = range(warmup, end)
        return {"read-backs": sum(s % run.log_every == 0 or s % run.sample_every == 0 or s % run.checkpoint_every == 0
                                  or s == end for s in range(warmup + 1, end + 1)),
                "log lines": sum(s % run.log_every == 0 for s in after),
                "sample grids": sum(s % run.sample_every == 0 for s in after),
                "checkpoints": sum(s % run.checkpoint_every == 0 for s in after)}


class _FitStep:
    """The fit's own ``_build``, ``_step`` and DataLoader (``_StepBatchSampler``), driven with no
    read-back, log, callback or file: what the step function costs by itself. ``compile``: G's
    ``net_forward`` and D through ``torch.compile`` (a local variant; the library has no such option)."""

    def __init__(self, train, config: TrainConfig, device: torch.device, precision: str = "fp32", compile: bool = False):
        self.config, self.device, self.precision = config, device, precision
        self.nets = _build(_arch(train, config), config, train.classes, device)
        _distribute(self.nets, device, 1)
        if compile:
            self.nets.G.net_forward = torch.compile(self.nets.G.net_forward)
            self.nets.D.compile()
        d = config.discriminator_steps
        sampler = _StepBatchSampler(train.targets, config.batch_size * d, config.balanced, config.seed, 0, NEVER, chunks=d)
        self.batches = iter(DataLoader(train, batch_sampler=sampler, pin_memory=device.type == "cuda"))
        self.step_no = 0
        self.nets.G.train(), self.nets.D.train()

    def run(self, n: int) -> float:
        _sync(self.device)
        start = time.perf_counter()
        for _ in range(n):
            self.step_no += 1
            x, y = next(self.batches)
            _step(self.nets, self.config, self.step_no, x.to(self.device, non_blocking=True),
                  y.to(self.device, non_blocking=True), (0, 1), self.precision)
        _sync(self.device)
        return time.perf_counter() - start


class _Plain:
    """The obvious hand-written loop (nanoGPT style) over the same nets: real batch by index from a
    uint8 tensor (class-balanced, as the fit draws), noise, D step, G step. ``recipe``: with the
    fit's mode-seeking term and EMA of G (False: plain hinge GAN). No logging, no maintenance."""

    def __init__(self, train, config: TrainConfig, device: torch.device, precision: str = "fp32",
                 compile: bool = False, recipe: bool = True):
        self.config, self.device, self.recipe = config, device, recipe
        torch.manual_seed(config.seed)
        arch = _arch(train, config)
        self.G = build_generator(**arch).to(device)
        self.D = build_discriminator(arch["family"], arch["num_classes"], arch["image_size"], arch["channels"],
                                     arch["width"]).to(device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.lr, betas=betas)
        self.g_forward = torch.compile(self.G.net_forward) if compile else self.G.net_forward
        self.d_forward = torch.compile(self.D) if compile else self.D
        self.X, self.Y = dataset_tensors(train)  # (N, C, H, W) uint8, (N,) int64 on the CPU
        if device.type == "cuda":
            self.X, self.Y = self.X.pin_memory(), self.Y.pin_memory()
        self.order = torch.argsort(self.Y, stable=True)  # indices grouped by class
        self.counts = torch.bincount(self.Y)
        self.offsets = torch.cumsum(self.counts, 0) - self.counts
        self.present = torch.nonzero(self.counts).squeeze(1)
        self.cpu_rng = torch.Generator().manual_seed(config.seed)
        self.rng = torch.Generator(device=device).manual_seed(config.seed)
        self.autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
        self.step_no = 0

    def batch(self, n: int):
        cls = self.present[torch.randint(len(self.present), (n,), generator=self.cpu_rng)]
        idx = self.order[self.offsets[cls] + (torch.rand(n, generator=self.cpu_rng) * self.counts[cls]).long()]
        x = self.X[idx].to(self.device, non_blocking=True).float().div_(127.5).sub_(1)  # (n, C, H, W) in [-1, 1]
        return x, self.Y[idx].to(self.device, non_blocking=True)

    def step(self) -> None:
        c, b, policy = self.config, self.config.batch_size, self.config.diffaugment
        self.step_no += 1
        for _ in range(c.discriminator_steps):
            x, y = self.batch(b)
            z = torch.randn(b, c.z_dim, generator=self.rng, device=self.device)
            with self.autocast:
                with torch.no_grad():
                    fake = self.g_forward(z, y)
                d_real = self.d_forward(diff_augment(x, policy, self.rng), y)
                d_fake = self.d_forward(diff_augment(fake, policy, self.rng), y)
                loss_d = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        z = torch.randn(b, c.z_dim, generator=self.rng, device=self.device)
        if self.recipe and c.mode_seeking:
            y, z = y[0:b - b % 2:2].repeat_interleave(2), z[:b - b % 2]  # adjacent pairs share a class
        self.D.requires_grad_(False)
        with self.autocast:
            fake = self.g_forward(z, y)
            loss_g = -self.d_forward(diff_augment(fake, policy, self.rng), y).mean()
            if self.recipe and c.mode_seeking:
                f = fake.float()
                ratio = (f[0::2] - f[1::2]).abs().mean() / (z[0::2] - z[1::2]).abs().mean()
                loss_g = loss_g + c.mode_seeking / (ratio + 1e-5)
        self.D.requires_grad_(True)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        if self.recipe:
            with torch.no_grad():
                decay = min(c.ema_decay, (1 + self.step_no) / (10 + self.step_no))
                for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                    p_ema.lerp_(p, 1 - decay)
                for b_ema, b_ in zip(self.G_ema.buffers(), self.G.buffers()):
                    b_ema.copy_(b_)

    def run(self, n: int) -> float:
        _sync(self.device)
        start = time.perf_counter()
        for _ in range(n):
            self.step()
        _sync(self.device)
        return time.perf_counter() - start


class _Looped:
    """A persistent loop (plain or fit step) timed like a fit: ``warmup`` untimed steps, then the window."""

    def __init__(self, loop):
        self.loop = loop

    def measure(self, warmup: int, window: int) -> float:
        self.loop.run(warmup)
        return self.loop.run(window)


def _rounds(sides: dict, warmup: int, window: int, repeats: int, images_per_step: int) -> dict:
    """images/s of every side per round; the order turns round every other round (A B C, C B A, …)."""
    names, ips = list(sides), {name: [] for name in sides}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            seconds = sides[name].measure(warmup, window)
            ips[name].append(window * images_per_step / seconds)
            print(f"  round {r + 1}: {name:<34} {ips[name][-1]:8.1f} images/s", file=sys.stderr, flush=True)
    return ips


def _summary(ips: dict, reference: str) -> list[dict]:
    rows = []
    for name, values in ips.items():
        ratios = [v / p for v, p in zip(values, ips[reference])]
        rows.append({"side": name, "images_per_s_median": round(statistics.median(values), 1),
                     "images_per_s_all": [round(v, 1) for v in values],
                     f"ratio_to_{reference.replace(' ', '_')}_median": round(statistics.median(ratios), 3),
                     "ratios": [round(q, 3) for q in ratios]})
    return rows


# ----------------------------------------------------------------------------- CPU: fit vs plain


def _event_cost(train, config: TrainConfig, device: torch.device, every: int = 10, events: int = 3) -> dict:
    """Seconds one sample grid + checkpoint adds to a step: a fit with both every ``every`` steps;
    the step times after an event against the median of the others (the first ``every`` left out)."""
    times = {}
    run = RunSettings(device=str(device), sample_every=every, checkpoint_every=every)
    with tempfile.TemporaryDirectory() as tmp:
        train_generator(train, replace(config, steps=every * events + 2), Path(tmp) / "fit", run=run,
                        on_step=lambda s, t, st: times.__setitem__(s, time.perf_counter()))
    dt = {s: times[s + 1] - times[s] for s in times if s + 1 in times and s >= every // 2}
    at_events = [v for s, v in dt.items() if s % every == 0]
    plain_steps = [v for s, v in dt.items() if s % every]
    step = statistics.median(plain_steps)
    return {"step_s": round(step, 4), "event_s": round(statistics.mean(at_events) - step, 3), "events": len(at_events)}


def cpu_fit_vs_plain(args) -> dict:
    device = torch.device("cpu")
    train = load_data(DataSpec(args.data)).train
    config = TrainConfig(batch_size=args.batch_size, seed=0)
    default_run = RunSettings(device="cpu")
    off_run = RunSettings(device="cpu", sample_every=NEVER, checkpoint_every=NEVER, log_every=NEVER)
    fit = _Fit(train, config, default_run, device)
    sides = {"fit (default schedule)": fit,
             "fit (maintenance off)": _Fit(train, config, off_run, device),
             "plain loop": _Looped(_Plain(train, config, device)),
             "fit step (_build/_step, no files)": _Looped(_FitStep(train, config, device)),
             "plain loop, no EMA/mode-seeking": _Looped(_Plain(train, config, device, recipe=False))}
    if args.compile:
        sides["plain loop, compiled"] = _Looped(_Plain(train, config, device, compile=True))
        sides["fit step, compiled"] = _Looped(_FitStep(train, config, device, compile=True))
    print(f"fit vs plain on {args.data} ({len(train)} images, {train.channels}×{train.image_size}²), "
          f"batch {config.batch_size}, {torch.get_num_threads()} thread(s)", file=sys.stderr)
    ips = _rounds(sides, args.warmup, args.window, args.repeats, config.batch_size * config.discriminator_steps)
    cost = _event_cost(train, config, device)
    rows = _summary(ips, "plain loop")
    fit_default = statistics.median(ips["fit (default schedule)"])
    # Long-run estimate at the default schedule: one grid + checkpoint every 500 steps on top of the window's steps.
    step_s = config.batch_size * config.discriminator_steps / fit_default
    long_run = fit_default * step_s / (step_s + cost["event_s"] / default_run.sample_every)
    return {"data": args.data, "images": len(train), "image_shape": [train.channels, train.image_size, train.image_size],
            "batch_size": config.batch_size, "threads": torch.get_num_threads(), "warmup": args.warmup,
            "window": args.window, "repeats": args.repeats, "rows": rows,
            "window_events_default": fit.events(args.warmup, args.window),
            "grid_and_checkpoint": cost,
            "default_schedule_long_run": {"images_per_s": round(long_run, 1),
                                          "ratio_to_plain": round(long_run / statistics.median(ips["plain loop"]), 3)}}


# ----------------------------------------------------------------------------- CPU: 1 → 2 gloo processes


def _torchrun_once(nproc: int, threads: int, batch: int, args, tmp: Path) -> dict:
    exe = shutil.which("cgan-augment")
    out = tmp / f"p{nproc}t{threads}b{batch}"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", exe, "fit",
           args.data, "--out", str(out), "--force", "--device", "cpu", "--steps", str(args.torchrun_steps),
           "--batch-size", str(batch), "--log-every", str(args.torchrun_log_every),
           "--sample-every", str(NEVER), "--checkpoint-every", str(NEVER)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"torchrun with {nproc} process(es) failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]
    windows = [line["images_per_s"] for line in lines if "images_per_s" in line]
    return {"images_per_s": statistics.median(windows[1:]), "wall_s": wall, "windows": len(windows) - 1}


def cpu_torchrun(args) -> dict:
    """Alternating runs of 1 process × 1 thread, 1 process × 2 threads and 2 processes × 1 thread at the
    global batch; and 1 process × 1 thread at half of it (a process's share in the 2-process run: twice
    its images/s is what 2 processes would give if the collectives cost nothing)."""
    b = args.batch_size
    cases = [(1, 1, b), (1, 2, b), (2, 1, b), (1, 1, b // 2)]
    results = {case: [] for case in cases}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.torchrun_repeats):
            for nproc, threads, batch in (cases if r % 2 == 0 else cases[::-1]):
                res = _torchrun_once(nproc, threads, batch, args, Path(tmp))
                results[(nproc, threads, batch)].append(res)
                print(f"  torchrun round {r + 1}: {nproc} process(es) × {threads} thread(s), batch {batch}: "
                      f"{res['images_per_s']:.1f} images/s, {res['wall_s']:.1f} s wall", file=sys.stderr, flush=True)
    base = statistics.median(r["images_per_s"] for r in results[(1, 1, b)])
    rows = []
    for (nproc, threads, batch), runs in results.items():
        ips = statistics.median(r["images_per_s"] for r in runs)
        rows.append({"processes": nproc, "threads_per_process": threads, "batch": batch, "images_per_s_median": round(ips, 1),
                     "images_per_s_all": [round(r["images_per_s"], 1) for r in runs], "vs_1x1": round(ips / base, 2),
                     "wall_s_median": round(statistics.median(r["wall_s"] for r in runs), 1)})
    return {"steps": args.torchrun_steps, "log_every": args.torchrun_log_every, "global_batch": args.batch_size,
            "repeats": args.torchrun_repeats, "rows": rows}


# ----------------------------------------------------------------------------- GPU suite

GPU_DATA = [(28, "builtin:mnist5k", None), (32, "builtin:colour-mnist5k", None), (64, "builtin:colour-mnist5k", 64)]
GPU_SIDES = ["fit", "plain loop", "fit step", "plain loop, compiled", "fit step, compiled"]


def gpu_suite(args) -> dict:
    device = torch.device(args.suite_device)
    if device.type == "cuda" and not torch.cuda.is_available():
        rows = [{"size": size, "data": data, "precision": p, "side": side, "result": "not run: no CUDA device"}
                for size, data, _ in GPU_DATA for p in ("fp32", "bf16") for side in GPU_SIDES]
        rows += [{"size": size, "data": data, "side": "pool generation", "result": "not run: no CUDA device"}
                 for size, data, _ in GPU_DATA]
        return {"device": None, "rows": rows}
    # The fit turns these on for its run (loop._cuda_speedups); the other sides get them too.
    torch.backends.cudnn.benchmark = torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    config = TrainConfig(batch_size=args.batch_size, seed=0)
    rows = []
    for size, data, image_size in GPU_DATA:
        if args.gpu_sizes and size not in args.gpu_sizes:
            continue
        train = load_data(DataSpec(data, image_size=image_size)).train
        for precision in args.gpu_precisions:
            run = RunSettings(device=str(device), precision=precision)
            sides = {"fit": _Fit(train, config, run, device),
                     "plain loop": _Looped(_Plain(train, config, device, precision)),
                     "fit step": _Looped(_FitStep(train, config, device, precision))}
            if not args.no_compile:
                sides["plain loop, compiled"] = _Looped(_Plain(train, config, device, precision, compile=True))
                sides["fit step, compiled"] = _Looped(_FitStep(train, config, device, precision, compile=True))
            print(f"{size} px ({data}), {precision}", file=sys.stderr)
            ips = _rounds(sides, args.gpu_warmup, args.gpu_window, args.gpu_repeats, config.batch_size * config.discriminator_steps)
            for row in _summary(ips, "plain loop"):
                rows.append({"size": size, "data": data, "precision": precision, **row})
        rows.append({"size": size, "data": data, "side": "pool generation",
                     **_pool_rate(train, config, device, args.pool_per_class)})
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{device} (a check of the script, not GPU figures)"
    return {"device": name, "batch_size": config.batch_size, "rows": rows}


def _pool_rate(train, config: TrainConfig, device: torch.device, per_class: int = 2000) -> dict:
    """samples/s of refilling a SyntheticDataset pool (``set_epoch``: generation on the device, uint8
    copy to the CPU) with ``per_class`` synthetic images per class; a fresh dcgan (speed does not depend on training)."""
    G = build_generator(**_arch(train, config)).to(device).eval()
    G.classes = list(train.classes)
    counts = torch.bincount(torch.as_tensor(train.targets), minlength=len(train.classes)).tolist()
    pool = SyntheticDataset(train, G, {c: n + per_class for c, n in zip(train.classes, counts)}, device=device, refresh="epoch")
    rates = []
    for epoch in range(1, 4):
        _sync(device)
        start = time.perf_counter()
        pool.set_epoch(epoch)
        _sync(device)
        rates.append(pool.num_synthetic / (time.perf_counter() - start))
    return {"samples": pool.num_synthetic, "samples_per_s_median": round(statistics.median(rates), 1)}


# ----------------------------------------------------------------------------- output


def _print_tables(result: dict) -> None:
    fvp = result.get("fit_vs_plain")
    if fvp:
        print(f"\n### fit vs plain loop ({fvp['data']}, {'×'.join(map(str, fvp['image_shape']))}, batch {fvp['batch_size']}, "
              f"{fvp['threads']} thread(s), window {fvp['window']} steps after {fvp['warmup']}, {fvp['repeats']} rounds)\n")
        print("| side | images/s (median) | / plain loop (median of rounds) | per round (images/s) |")
        print("|---|---|---|---|")
        for r in fvp["rows"]:
            print(f"| {r['side']} | {r['images_per_s_median']:.1f} | {r['ratio_to_plain_loop_median']:.3f} | "
                  f"{', '.join(f'{v:.0f}' for v in r['images_per_s_all'])} |")
        ev, cost, lr = fvp["window_events_default"], fvp["grid_and_checkpoint"], fvp["default_schedule_long_run"]
        print(f"\nIn each timed window the default-schedule fit did: {ev['read-backs']} loss read-backs, {ev['log lines']} "
              f"log lines, {ev['sample grids']} sample grids, {ev['checkpoints']} checkpoints.")
        print(f"One sample grid + checkpoint costs {cost['event_s']:.2f} s (step {cost['step_s'] * 1e3:.0f} ms; mean of "
              f"{cost['events']} events); at the default one per 500 steps the long-run fit is {lr['images_per_s']:.1f} "
              f"images/s, {lr['ratio_to_plain']:.3f}× the plain loop.")
    tr = result.get("torchrun")
    if tr:
        print(f"\n### torchrun gloo, {tr['steps']} steps, images/s from log.jsonl "
              f"(median of the {tr['log_every']}-step windows after the first; {tr['repeats']} runs each)\n")
        print("| processes × threads | global batch | images/s (median) | vs 1 × 1 | per run | wall s (median, with start-up) |")
        print("|---|---|---|---|---|---|")
        for r in tr["rows"]:
            print(f"| {r['processes']} × {r['threads_per_process']} | {r['batch']} | {r['images_per_s_median']:.1f} | {r['vs_1x1']:.2f} | "
                  f"{', '.join(f'{v:.0f}' for v in r['images_per_s_all'])} | {r['wall_s_median']:.1f} |")
    gpu = result.get("gpu")
    if gpu:
        print(f"\n### GPU suite ({gpu['device'] or 'no CUDA device'})\n")
        print("| size | data | precision | side | images/s (samples/s for pool) | / plain loop |")
        print("|---|---|---|---|---|---|")
        for r in gpu["rows"]:
            value = r.get("result") or f"{r.get('images_per_s_median', r.get('samples_per_s_median'))}"
            ratio = r.get("ratio_to_plain_loop_median", "")
            print(f"| {r['size']} | {r['data']} | {r.get('precision', '')} | {r['side']} | {value} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="builtin:mnist5k")
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the in-process comparison")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--window", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="also the compiled plain loop and fit step (CPU)")
    parser.add_argument("--skip-fit-vs-plain", action="store_true")
    parser.add_argument("--skip-torchrun", action="store_true")
    parser.add_argument("--torchrun-steps", type=int, default=60)
    parser.add_argument("--torchrun-log-every", type=int, default=10)
    parser.add_argument("--torchrun-repeats", type=int, default=2)
    parser.add_argument("--gpu-suite", action="store_true", help="the GPU rows only (needs CUDA)")
    parser.add_argument("--suite-device", default="cuda", help="device of --gpu-suite (cpu: check the script runs)")
    parser.add_argument("--gpu-sizes", type=int, nargs="*", default=None)
    parser.add_argument("--gpu-precisions", nargs="*", default=["fp32", "bf16"])
    parser.add_argument("--no-compile", action="store_true", help="GPU suite without the compiled sides")
    parser.add_argument("--pool-per-class", type=int, default=2000, help="synthetic images per class of the pool rows")
    parser.add_argument("--gpu-warmup", type=int, default=10)
    parser.add_argument("--gpu-window", type=int, default=100)
    parser.add_argument("--gpu-repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = {"torch": torch.__version__, "python": sys.version.split()[0], "cpu_count": os.cpu_count(),
              "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "cuda": torch.cuda.is_available()}
    if args.gpu_suite:
        result["gpu"] = gpu_suite(args)
    else:
        if not args.skip_fit_vs_plain:
            result["fit_vs_plain"] = cpu_fit_vs_plain(args)
        if not args.skip_torchrun:
            result["torchrun"] = cpu_torchrun(args)
        if not torch.cuda.is_available():  # the GPU rows, marked not run
            result["gpu"] = gpu_suite(args)
    _print_tables(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
