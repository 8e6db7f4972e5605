"""Training a class-conditional GAN: :class:`TrainConfig` and :func:`train_generator`.

One step = ``d_steps`` discriminator updates and one generator update, Adam for both, DiffAugment
on everything the discriminator sees, an exponential moving average (EMA) of the generator's
weights that is what gets saved and sampled. Every random draw of step ``s`` comes from a seed
derived from ``(config.seed, s)``, so a run resumed from a checkpoint repeats exactly what an
uninterrupted run would have done (bit for bit on CPU).

Files written to ``out`` (rank 0 only, each atomically): ``model.safetensors`` (EMA generator),
``checkpoint.safetensors`` (everything for ``resume``), ``samples.png`` and ``samples/step_N.png``
(one row per class, fixed noise), ``log.jsonl`` (losses per step), ``config.json``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Optional, Union

import torch
from torch.utils.data import DataLoader, Sampler

from .checkpoint import load_checkpoint, save_checkpoint, save_generator
from .files import write_text_atomic
from .data import class_counts, fingerprint
from .diffaugment import check_policy, diff_augment
from .diagnostics import class_diversity, write_diversity_plot, write_timeline
from .images import save_grid
from .devices import resolve_device
from .errors import ConfigError, OutputDirError, TrainingDiverged, TrainingInterrupted
from .losses import check_loss, discriminator_loss, generator_loss, gradient_penalty, mode_seeking_loss
from .models import FAMILIES, Generator, build_discriminator, build_generator

__all__ = ["TrainConfig", "train_generator"]


@dataclass(frozen=True)
class TrainConfig:
    """How to train; stored in the model file. Defaults are the recommended settings: those that
    measured best in ``benchmarks/bench_generators.py`` (see ``benchmarks/RESULTS.md``, issue 5).

    Args:
        family: ``dcgan`` (conv, conditional BatchNorm, spectral-norm projection discriminator) or ``mlp``.
        loss: ``hinge``, ``bce`` (non-saturating) or ``wgan-gp``.
        steps: generator updates in all.
        batch_size: real images per discriminator update.
        lr: Adam learning rate of both networks.
        beta1, beta2: Adam betas.
        d_steps: discriminator updates per generator update (``None``: 5 for wgan-gp, else 1).
        gp_weight: weight of the gradient penalty (wgan-gp only).
        z_dim: noise dimension.
        width: channel width multiplier of both networks.
        ema_decay: decay of the generator-weights moving average (ramped up over the first steps).
        balanced: draw real batches class-balanced (a class uniformly, then one of its images).
        diffaugment: DiffAugment policy applied before the discriminator ("" to turn it off).
        mode_seeking: weight of the mode-seeking term (Mao et al. 2019): the generator is pushed to
            make images that differ as much as their noise vectors do, for the same class, which
            counters a generator that ignores its noise (every sample of a class alike).
        seed: seed of initialisation, batches, noise and augmentation.
        sample_every: steps between sample grids; checkpoint_every: steps between checkpoints.
        num_workers: DataLoader worker processes decoding images.
    """

    family: str = "dcgan"
    loss: str = "hinge"
    steps: int = 4000
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.9
    d_steps: Optional[int] = None
    gp_weight: float = 10.0
    z_dim: int = 64
    width: int = 16
    ema_decay: float = 0.999
    balanced: bool = True
    diffaugment: str = "translation,cutout"
    mode_seeking: float = 0.1
    seed: int = 0
    sample_every: int = 500
    checkpoint_every: int = 500
    num_workers: int = 0

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ConfigError(f"family should be one of {', '.join(FAMILIES)}. Got {self.family!r}.")
        check_loss(self.loss)
        check_policy(self.diffaugment)
        for name in ("steps", "batch_size", "z_dim", "width", "sample_every", "checkpoint_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} should be a positive integer. Got {getattr(self, name)!r}.")
        if self.d_steps is not None and self.d_steps < 1:
            raise ConfigError(f"d_steps should be a positive integer. Got {self.d_steps!r}.")
        if not self.lr > 0:
            raise ConfigError(f"lr should be positive. Got {self.lr}.")
        if not (0 <= self.ema_decay < 1 and 0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError("ema_decay, beta1 and beta2 should lie in [0, 1).")
        if self.num_workers < 0:
            raise ConfigError(f"num_workers should be >= 0. Got {self.num_workers}.")

    @property
    def discriminator_steps(self) -> int:
        return self.d_steps if self.d_steps is not None else (5 if self.loss == "wgan-gp" else 1)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def _step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step * 7_919 + 17) % (2**63)


class StepBatchSampler(Sampler):
    """Index batches for steps ``start..stop-1``; the batch of a step depends only on (seed, step).

    ``balanced``: each item draws a class uniformly, then one of that class's items uniformly.
    """

    def __init__(self, targets, batch_size: int, balanced: bool, seed: int, start: int, stop: int):
        self.batch_size, self.balanced, self.seed, self.start, self.stop = batch_size, balanced, seed, start, stop
        t = torch.as_tensor(list(targets), dtype=torch.int64)
        self.order = torch.argsort(t, stable=True)  # item indices grouped by class
        self.counts = torch.bincount(t)
        self.offsets = torch.cumsum(self.counts, 0) - self.counts
        self.n = len(t)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self):
        for step in range(self.start, self.stop):
            g = torch.Generator().manual_seed(_step_seed(self.seed, step) ^ 0x5EED)
            if self.balanced:
                present = torch.nonzero(self.counts).squeeze(1)
                cls = present[torch.randint(len(present), (self.batch_size,), generator=g)]
                pos = self.offsets[cls] + (torch.rand(self.batch_size, generator=g) * self.counts[cls]).long()
                yield self.order[pos].tolist()
            else:
                yield torch.randint(self.n, (self.batch_size,), generator=g).tolist()


def _standing_stats(generator: Generator, seed: int, batches: int = 4, batch_size: int = 128) -> Generator:
    """A copy of ``generator`` whose BatchNorm statistics are averaged over fresh batches of its
    own activations (class-balanced labels), so that eval-mode samples match train-mode ones."""
    g = copy.deepcopy(generator)
    norms = [m for m in g.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return g.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    rng = torch.Generator().manual_seed(seed)
    g.train()
    with torch.no_grad():
        for _ in range(batches):
            y = torch.arange(batch_size) % g.num_classes
            z = torch.randn(batch_size, g.z_dim, generator=rng)
            g(z.to(g.device), y.to(g.device))
    for m in norms:
        m.momentum = 0.1
    return g.eval()


class _OutDirLock:
    """``out/.lock`` holding the owner's pid; a lock whose process is gone is taken over."""

    def __init__(self, out: Path, force: bool):
        self.path, self.force, self.held = out / ".lock", force, False

    def __enter__(self):
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                self.held = True
                return self
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and _alive(pid) and not self.force:
                    raise OutputDirError(f"{self.path.parent}: another fit (pid {pid}) is writing here; "
                                         "wait for it, use another --out, or pass --force.") from None
                self.path.unlink(missing_ok=True)
            except OSError as e:
                raise OutputDirError(f"{self.path.parent}: cannot write here ({e.strerror}).") from None
        raise OutputDirError(f"{self.path.parent}: could not take the lock file {self.path}.")

    def __exit__(self, *exc):
        if self.held:
            self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _StopOnSignal:
    """Turns SIGINT/SIGTERM into a flag the loop checks after each step (main thread only)."""

    def __init__(self):
        self.stop, self.previous = False, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.stop = True

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def train_generator(
    dataset,
    config: TrainConfig = TrainConfig(),
    out: Union[str, Path, None] = None,
    *,
    data_info: Optional[dict] = None,
    resume: bool = False,
    force: bool = False,
    device: Union[str, torch.device] = "auto",
    rank: int = 0,
    on_step: Optional[Callable[[int, int, dict], None]] = None,
) -> Generator:
    """Fit a class-conditional GAN on ``dataset`` and return its EMA generator (eval mode).

    Args:
        dataset: map-style dataset of ``(float C×H×W in [0, 1], int label)`` with ``classes``,
            ``targets``, ``image_size`` and ``channels`` (as :func:`cgan_augment.load_data` gives).
        config: the training settings.
        out: folder for the model, checkpoint, samples and log (``None``: write nothing).
        data_info: what to record about the data in the model file (e.g. the DataSpec as a dict).
        resume: continue from ``out/checkpoint.safetensors``.
        force: overwrite a model already in ``out`` / take over its lock.
        device: ``auto``, ``cpu``, ``cuda``, ``mps`` or a ``torch.device``.
        rank: process rank; only rank 0 writes files.
        on_step: called after every step with ``(step, total_steps, stats)``.

    Raises:
        OutputDirError: ``out`` is locked, not writable, or holds a model and neither ``resume``
            nor ``force`` was given. TrainingDiverged: non-finite losses. TrainingInterrupted:
            SIGINT/SIGTERM (after writing a checkpoint).
    """
    device = resolve_device(device)
    out = Path(out) if out is not None else None
    writer = out is not None and rank == 0
    if writer:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputDirError(f"{out}: cannot create the output folder ({e.strerror}).") from None
        if not resume and not force and (out / "model.safetensors").exists():
            raise OutputDirError(f"{out}: already holds a model.safetensors; pass --resume to continue it, "
                                 "--force to replace it, or choose another --out.")
        if resume and not (out / "checkpoint.safetensors").exists():
            raise OutputDirError(f"{out}: nothing to resume (no checkpoint.safetensors); run without --resume.")
    with _OutDirLock(out, force) if writer else contextlib.nullcontext(), _StopOnSignal() as signals:
        return _train(dataset, config, out if writer else None, data_info or {}, resume, device, on_step, signals)


def _train(dataset, config, out, data_info, resume, device, on_step, signals) -> Generator:
    num_classes = len(dataset.classes)
    arch = dict(family=config.family, num_classes=num_classes, image_size=dataset.image_size,
                channels=dataset.channels, z_dim=config.z_dim, width=config.width)
    torch.manual_seed(config.seed)
    G = build_generator(**arch).to(device)
    D = build_discriminator(config.family, num_classes, dataset.image_size, dataset.channels, config.width).to(device)
    G.classes = list(dataset.classes)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    modules, optimizers = {"G": G, "D": D, "G_ema": G_ema}, {"opt_g": opt_g, "opt_d": opt_d}

    counts = class_counts(dataset)
    indices = getattr(dataset, "indices", None)
    data_meta = dict(data_info, num_train=len(dataset),
                     train_fingerprint=fingerprint(indices) if indices is not None else None)
    meta = {"arch": arch, "classes": list(dataset.classes), "class_counts": counts,
            "train_config": asdict(config), "data": data_meta}

    start = 0
    if resume and out is not None:
        saved = load_checkpoint(out / "checkpoint.safetensors", modules, optimizers)
        _check_resumable(out, saved, meta, config)
        start = int(saved["step"])
        G_ema.to(device), G.to(device), D.to(device)
    if out is not None:
        (out / "samples").mkdir(exist_ok=True)
        _write_json(out / "config.json", {"train_config": asdict(config), "data": data_meta, "device": str(device)})
        _trim_log(out / "log.jsonl", start)

    d_steps = config.discriminator_steps
    sampler = StepBatchSampler(dataset.targets, config.batch_size * d_steps, config.balanced, config.seed, start, config.steps)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=config.num_workers,
                        pin_memory=device.type == "cuda", persistent_workers=False)
    grid_rows = 10
    grid_noise = torch.randn(num_classes * grid_rows, config.z_dim, generator=torch.Generator().manual_seed(config.seed))
    grid_labels = torch.arange(num_classes).repeat_interleave(grid_rows)
    real_diversity = class_diversity(*_real_examples(dataset, grid_rows), num_classes) if out is not None else None

    log = open(out / "log.jsonl", "a") if out is not None else None
    standing = {}

    def eval_generator(step):
        """The EMA generator with standing BatchNorm statistics, computed once per step (the grid,
        the checkpoint and the return value of the same step share it)."""
        if standing.get("step") != step:
            standing.update(step=step, generator=_standing_stats(G_ema, config.seed))
            standing["generator"].classes = list(dataset.classes)
        return standing["generator"]

    def checkpoint(step):
        if out is None:
            return
        state = dict(meta, step=step)
        final = eval_generator(step)
        # Model first: wherever a kill lands, a checkpoint on disk implies a model on disk.
        save_generator(final, out / "model.safetensors", state)
        save_checkpoint(out / "checkpoint.safetensors", modules, optimizers, state)

    def grid(step):
        if out is None:
            return
        final = eval_generator(step)
        with torch.no_grad():
            images = final(grid_noise.to(device), grid_labels.to(device)).clamp(0, 1).cpu()
        save_grid(images, out / "samples" / f"step_{step:06d}.png", nrow=grid_rows)
        save_grid(images, out / "samples.png", nrow=grid_rows)
        timeline = [_read_grid(p, num_classes * grid_rows, grid_rows, images.shape[1:])
                    for p in sorted((out / "samples").glob("step_*.png"))]
        write_timeline(timeline, out / "samples_over_time.png", num_classes)
        if log:
            log.write(json.dumps({"step": step, "diversity": class_diversity(images, grid_labels, num_classes),
                                  "real_diversity": real_diversity}) + "\n")
            log.flush()
            write_diversity_plot(out / "log.jsonl", out / "diversity.png", dataset.classes)

    G.train(), D.train()
    step, last = start, time.perf_counter()
    try:
        for step, (x, y) in enumerate(loader, start=start + 1):
            rng = torch.Generator().manual_seed(_step_seed(config.seed, step))
            torch.manual_seed(_step_seed(config.seed, step))  # dropout and anything else on the global RNG
            x = x.to(device, non_blocking=True) * 2 - 1  # (B·d_steps, C, H, W) in [-1, 1]
            y = y.to(device, non_blocking=True)
            for xr, yr in zip(x.chunk(d_steps), y.chunk(d_steps)):
                z = torch.randn(len(yr), config.z_dim, generator=rng).to(device)
                with torch.no_grad():
                    fake = G.net_forward(z, yr)
                d_real = D(diff_augment(xr, config.diffaugment, rng), yr)
                d_fake = D(diff_augment(fake, config.diffaugment, rng), yr)
                loss_d = discriminator_loss(config.loss, d_real, d_fake)
                if config.loss == "wgan-gp":
                    loss_d = loss_d + config.gp_weight * gradient_penalty(D, xr, fake, yr, rng)
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
            z = torch.randn(len(yr), config.z_dim, generator=rng).to(device)
            if config.mode_seeking:
                half = len(yr) // 2
                yr = torch.cat([yr[:half], yr[:half]])  # pairs: same class, different noise
                z = z[:2 * half]
            fake = G.net_forward(z, yr)
            loss_g = generator_loss(config.loss, D(diff_augment(fake, config.diffaugment, rng), yr))
            if config.mode_seeking:
                loss_g = loss_g + config.mode_seeking * mode_seeking_loss(fake, z)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            _update_ema(G_ema, G, min(config.ema_decay, (1 + step) / (10 + step)))

            stats = {"step": step, "loss_d": loss_d.item(), "loss_g": loss_g.item(),
                     "d_real": d_real.mean().item(), "d_fake": d_fake.mean().item()}
            if not all(map(lambda v: v == v and abs(v) != float("inf"), stats.values())):
                raise TrainingDiverged(f"training diverged at step {step} (loss_d={stats['loss_d']}, loss_g={stats['loss_g']}); "
                                       "the last checkpoint on disk is kept; try a lower --lr or another --loss.")
            now = time.perf_counter()
            stats["images_per_s"] = round(len(x) / max(now - last, 1e-9), 1)
            last = now
            if log:
                log.write(json.dumps(stats) + "\n")
            if on_step:
                on_step(step, config.steps, stats)
            if step % config.sample_every == 0 or step == config.steps:
                grid(step)
            if step % config.checkpoint_every == 0 or step == config.steps:
                if log:
                    log.flush()
                checkpoint(step)
            if signals.stop:
                if log:
                    log.flush()
                checkpoint(step)
                raise TrainingInterrupted(step, out)
        if start >= config.steps and out is not None:
            grid(step)
            checkpoint(step)
    finally:
        if log:
            log.close()
    final = eval_generator(step)
    final.metadata = dict(meta, step=step)
    return final


def _real_examples(dataset, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``per_class`` real images of each class (the first ones), for diversity reference."""
    picked, seen = [], {}
    for i, t in enumerate(dataset.targets):
        if seen.get(t, 0) < per_class:
            seen[t] = seen.get(t, 0) + 1
            picked.append(i)
    items = [dataset[i] for i in picked]
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


def _read_grid(path: Path, n: int, nrow: int, shape) -> torch.Tensor:
    """The n images (C×H×W each) of a grid PNG written by ``save_grid`` with padding 1."""
    from PIL import Image
    import numpy as np

    c, h, w = shape
    with Image.open(path) as im:
        arr = torch.from_numpy(np.asarray(im.convert("L" if c == 1 else "RGB"), dtype=np.uint8).copy())
    arr = arr.view(arr.shape[0], arr.shape[1], -1).permute(2, 0, 1).float() / 255
    cells = [arr[:, 1 + (i // nrow) * (h + 1):1 + (i // nrow) * (h + 1) + h, 1 + (i % nrow) * (w + 1):1 + (i % nrow) * (w + 1) + w]
             for i in range(n)]
    return torch.stack(cells)


def _update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for p_ema, p in zip(ema.parameters(), model.parameters()):
            p_ema.lerp_(p, 1 - decay)
        for b_ema, b in zip(ema.buffers(), model.buffers()):
            b_ema.copy_(b)


def _check_resumable(out: Path, saved: dict, meta: dict, config: TrainConfig) -> None:
    """Refuse to resume with other data or other settings than the checkpoint's (``steps`` may grow)."""
    old = TrainConfig.from_dict(saved.get("train_config", {}))
    diff = [f.name for f in fields(TrainConfig) if f.name != "steps" and getattr(old, f.name) != getattr(config, f.name)]
    if diff:
        raise OutputDirError(f"{out}: the checkpoint was made with other settings ({', '.join(f'{d}={getattr(old, d)!r}' for d in diff)}); "
                             "resume with the same flags or start a new --out.")
    if saved.get("arch") != meta["arch"] or saved.get("data", {}).get("train_fingerprint") != meta["data"]["train_fingerprint"]:
        raise OutputDirError(f"{out}: the checkpoint was trained on other data; resume with the same DATA and data flags.")


def _write_json(path: Path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2))


def _trim_log(path: Path, keep_until: int) -> None:
    """Drop log lines of steps after the checkpoint we resume from (they will be redone)."""
    if not path.exists():
        return
    lines = [l for l in path.read_text().splitlines() if l.strip() and json.loads(l).get("step", 0) <= keep_until]
    write_text_atomic(path, "".join(l + "\n" for l in lines))
