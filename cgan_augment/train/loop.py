"""The training loop: :func:`train_generator` = :func:`_build`, then :func:`_step` per batch with
:class:`~.maintenance._Maintenance` after each, until the last step or ``should_stop``."""

from __future__ import annotations

import contextlib
import copy
import os
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Callable, Optional, Union

import torch
from torch.utils.data import DataLoader

from ..checkpoint import load_checkpoint
from ..data import class_counts, _fingerprint
from ..devices import resolve_device
from ..diffaugment import diff_augment
from ..errors import OutputDirError, TrainingCollapsed, TrainingDiverged, TrainingInterrupted
from ..files import make_dir
from ..losses import discriminator_loss, generator_loss, gradient_penalty, mode_seeking_loss
from ..models import Generator, build_discriminator, build_generator
from .config import RunSettings, TrainConfig
from .maintenance import _Maintenance, _Nets, _standing_stats, _write_json
from .sampler import _StepBatchSampler, _step_seed

__all__ = ["train_generator"]


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


def train_generator(
    dataset,
    config: TrainConfig = TrainConfig(),
    out: Union[str, Path, None] = None,
    *,
    run: RunSettings = RunSettings(),
    data_info: Optional[dict] = None,
    resume: bool = False,
    force: bool = False,
    rank: int = 0,
    on_step: Optional[Callable[[int, int, dict], None]] = None,
    should_stop: Optional[Callable[[], bool]] = None,
) -> Generator:
    """Fit a class-conditional GAN on ``dataset`` and return its EMA generator (eval mode).

    Args:
        dataset: map-style dataset of ``(float C×H×W in [0, 1], int label)`` with ``classes``,
            ``targets``, ``image_size`` and ``channels`` (as :func:`cgan_augment.load_data` gives).
        config: the recipe.
        out: folder for the model, checkpoint, samples and log (``None``: write nothing).
        run: device, workers and the intervals of grids, checkpoints and log lines.
        data_info: what to record about the data in the model file (e.g. the DataSpec as a dict).
        resume: continue from ``out/checkpoint.safetensors`` (same recipe and data; ``steps`` may grow).
        force: overwrite a model already in ``out`` / take over its lock.
        rank: process rank; only rank 0 writes files.
        on_step: called after every step with ``(step, total_steps, stats)``.
        should_stop: called after every step; when it returns true, a checkpoint is written and
            :class:`~cgan_augment.TrainingInterrupted` is raised (the CLI sets it from SIGINT/SIGTERM).

    At every sample grid of a run that writes files, the samples are checked for mode collapse
    and for a stalled generator (:func:`~cgan_augment.diagnostics.training_warnings`); each kind of
    problem is reported once per run as a :class:`~cgan_augment.TrainingWarning`, a
    ``{"step", "warning"}`` line in ``log.jsonl`` and an entry of the model file's ``warnings``.

    Raises:
        OutputDirError: ``out`` is locked, not writable, or holds a model and neither ``resume``
            nor ``force`` was given. DeviceError: ``run.device`` is not available.
        TrainingDiverged: non-finite losses. TrainingInterrupted: ``should_stop`` said so.
        TrainingCollapsed: ``run.strict`` and a collapse or stall warning.
    """
    if config.family == "deform":  # not adversarial: registration, then a Gaussian over the warps
        from ..deform import DeformConfig, fit_deform

        return fit_deform(dataset, DeformConfig(seed=config.seed), out if rank == 0 else None, data_info=data_info,
                          force=force, device=run.device)
    device = resolve_device(run.device)
    out = Path(out) if out is not None else None
    writer = out is not None and rank == 0
    if writer:
        make_dir(out)
        if not resume and not force and (out / "model.safetensors").exists():
            raise OutputDirError(f"{out}: already holds a model.safetensors; pass --resume to continue it, "
                                 "--force to replace it, or choose another --out.")
        if resume and not (out / "checkpoint.safetensors").exists():
            raise OutputDirError(f"{out}: nothing to resume (no checkpoint.safetensors); run without --resume.")
    with _OutDirLock(out, force) if writer else contextlib.nullcontext():
        return _train(dataset, config, run, out if writer else None, data_info or {}, resume, device, on_step, should_stop)


def _build(arch: dict, config: TrainConfig, classes: list, device: torch.device) -> _Nets:
    """Fresh networks and optimisers on ``device``, initialised from ``config.seed``."""
    torch.manual_seed(config.seed)
    G = build_generator(**arch).to(device)
    D = build_discriminator(arch["family"], arch["num_classes"], arch["image_size"], arch["channels"], arch["width"]).to(device)
    G.classes = list(classes)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    betas = (config.beta1, config.beta2)
    return _Nets(G, D, G_ema, torch.optim.Adam(G.parameters(), lr=config.lr, betas=betas),
                 torch.optim.Adam(D.parameters(), lr=config.lr, betas=betas))


def _step(nets: _Nets, config: TrainConfig, step: int, x: torch.Tensor, y: torch.Tensor) -> dict:
    """One step on a real batch (x: (B·d_steps, C, H, W) in [0, 1], y: (B·d_steps,), on the
    device): ``d_steps`` discriminator updates, one generator update, the EMA update. Every random
    draw comes from ``(config.seed, step)``. Returns the step's losses and mean logits as floats."""
    G, D, device = nets.G, nets.D, x.device
    rng = torch.Generator().manual_seed(_step_seed(config.seed, step))
    torch.manual_seed(_step_seed(config.seed, step))  # dropout and anything else on the global RNG
    x = x * 2 - 1  # (B·d_steps, C, H, W) in [-1, 1]
    for xr, yr in zip(x.chunk(config.discriminator_steps), y.chunk(config.discriminator_steps)):
        z = torch.randn(len(yr), config.z_dim, generator=rng).to(device)
        with torch.no_grad():
            fake = G.net_forward(z, yr)
        d_real = D(diff_augment(xr, config.diffaugment, rng), yr)
        d_fake = D(diff_augment(fake, config.diffaugment, rng), yr)
        loss_d = discriminator_loss(config.loss, d_real, d_fake)
        if config.loss == "wgan-gp":
            loss_d = loss_d + config.gp_weight * gradient_penalty(D, xr, fake, yr, rng)
        nets.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        nets.opt_d.step()
    z = torch.randn(len(yr), config.z_dim, generator=rng).to(device)
    if config.mode_seeking:
        half = len(yr) // 2
        yr = torch.cat([yr[:half], yr[:half]])  # pairs: same class, different noise
        z = z[:2 * half]
    fake = G.net_forward(z, yr)
    loss_g = generator_loss(config.loss, D(diff_augment(fake, config.diffaugment, rng), yr))
    if config.mode_seeking:
        loss_g = loss_g + config.mode_seeking * mode_seeking_loss(fake, z)
    nets.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    nets.opt_g.step()
    _update_ema(nets.G_ema, G, min(config.ema_decay, (1 + step) / (10 + step)))
    stats = {"step": step, "loss_d": loss_d.item(), "loss_g": loss_g.item(),
             "d_real": d_real.mean().item(), "d_fake": d_fake.mean().item()}
    if not all(v == v and abs(v) != float("inf") for v in stats.values()):
        raise TrainingDiverged(f"training diverged at step {step} (loss_d={stats['loss_d']}, loss_g={stats['loss_g']}); "
                               "the last checkpoint on disk is kept; try a lower --lr or another --loss.")
    return stats


def _train(dataset, config: TrainConfig, run: RunSettings, out: Optional[Path], data_info: dict, resume: bool,
           device: torch.device, on_step, should_stop) -> Generator:
    num_classes = len(dataset.classes)
    arch = dict(family=config.family, num_classes=num_classes, image_size=dataset.image_size,
                channels=dataset.channels, z_dim=config.z_dim, width=config.width)
    nets = _build(arch, config, dataset.classes, device)
    indices = getattr(dataset, "indices", None)
    data_meta = dict(data_info, num_train=len(dataset),
                     train_fingerprint=_fingerprint(indices) if indices is not None else None)
    meta = {"arch": arch, "classes": list(dataset.classes), "class_counts": class_counts(dataset),
            "train_config": asdict(config), "data": data_meta, "warnings": []}

    start = 0
    if resume and out is not None:
        saved = load_checkpoint(out / "checkpoint.safetensors", nets.modules, nets.optimizers)
        _check_resumable(out, saved, meta, config)
        start = int(saved["step"])
        meta["warnings"] = list(saved.get("warnings", []))
        for module in nets.modules.values():
            module.to(device)
    maintenance = None
    if out is not None:
        _write_json(out / "config.json", {"train_config": asdict(config), "run": dict(asdict(run), device=str(device)),
                                          "data": data_meta})
        maintenance = _Maintenance(out, nets, dataset, config, run, meta, start)

    sampler = _StepBatchSampler(dataset.targets, config.batch_size * config.discriminator_steps, config.balanced,
                               config.seed, start, config.steps)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=run.num_workers,
                        pin_memory=device.type == "cuda", persistent_workers=False)
    nets.G.train(), nets.D.train()
    step, last = start, time.perf_counter()
    try:
        for step, (x, y) in enumerate(loader, start=start + 1):
            stats = _step(nets, config, step, x.to(device, non_blocking=True), y.to(device, non_blocking=True))
            now = time.perf_counter()
            stats["images_per_s"] = round(len(x) / max(now - last, 1e-9), 1)
            last = now
            if on_step:
                on_step(step, config.steps, stats)
            if maintenance:
                maintenance.after_step(step, stats)
            if should_stop is not None and should_stop() and step < config.steps:
                if maintenance:
                    maintenance.checkpoint(step)
                raise TrainingInterrupted(step, out)
            if run.strict and maintenance and maintenance.alarm:
                maintenance.checkpoint(step)
                what = maintenance.alarm[0].rstrip(".") + f"; the files of this step are kept in {out}."
                raise TrainingCollapsed(f"training stopped (strict=True) at {what}", cli_message=f"training stopped (--strict) at {what}")
        if start >= config.steps and maintenance:  # resumed a finished run: refresh its files
            maintenance.grid(step)
            maintenance.checkpoint(step)
        final = maintenance.eval_generator(step) if maintenance else _standing_stats(nets.G_ema, config.seed)
    finally:
        if maintenance:
            maintenance.close()
    final.classes = list(dataset.classes)
    final.metadata = dict(meta, step=step)
    return final


def _update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for p_ema, p in zip(ema.parameters(), model.parameters()):
            p_ema.lerp_(p, 1 - decay)
        for b_ema, b in zip(ema.buffers(), model.buffers()):
            b_ema.copy_(b)


def _check_resumable(out: Path, saved: dict, meta: dict, config: TrainConfig) -> None:
    """Refuse to resume with another recipe or other data than the checkpoint's (``steps`` may grow;
    run settings such as workers or intervals are not part of the recipe and may change)."""
    old = TrainConfig.from_dict(saved.get("train_config", {}))
    diff = [f.name for f in fields(TrainConfig) if f.name != "steps" and getattr(old, f.name) != getattr(config, f.name)]
    if diff:
        raise OutputDirError(f"{out}: the checkpoint was made with other settings ({', '.join(f'{d}={getattr(old, d)!r}' for d in diff)}); "
                             "resume with the same flags or start a new --out.")
    if saved.get("arch") != meta["arch"] or saved.get("data", {}).get("train_fingerprint") != meta["data"]["train_fingerprint"]:
        raise OutputDirError(f"{out}: the checkpoint was trained on other data; resume with the same DATA and data flags.")
