"""The training loop: :func:`train_generator` = :func:`_build`, then :func:`~.step._step` per batch
with :class:`~.maintenance._Maintenance` after each, until the last step or ``should_stop``."""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Callable, Optional, Union

import torch
from torch.utils.data import DataLoader

from ..data.subsets import class_counts
from ..errors import CGANAugmentError, ConfigError, OutputDirError, TrainingCollapsed, TrainingDiverged, TrainingInterrupted
from ..generators.fitting import claim_output, data_record
from ..generators.model_file import load_checkpoint, read_metadata
from ..generators.networks import Generator, build_discriminator, build_generator
from .config import RunSettings, TrainConfig
from .distributed import _Dist, _setup, _sync_batch_norm
from .maintenance import _Maintenance, _Nets, _standing_stats, _write_json
from .sampler import _StepBatchSampler
from .step import _STATS, _step

_FLAGS = ("diverged", "stop")  # any rank's, read back with the losses (after _STATS) in one collective

__all__ = ["train_generator", "fit_gan"]


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

    Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment, or a process group already made)
    every process calls this with the same arguments: each trains on its slice of every global
    batch (``config.batch_size`` is the global batch and must split evenly over the processes),
    gradients and batch-norm statistics are shared (DDP, SyncBatchNorm), and rank 0 alone writes.

    Args:
        dataset: map-style dataset of ``(float C×H×W in [0, 1], int label)`` with ``classes``,
            ``targets``, ``image_size`` and ``channels`` (as :func:`cgan_augment.load_data` gives).
        config: the recipe.
        out: folder for the model, checkpoint, samples and log (``None``: write nothing).
        run: device, precision, workers and the intervals of grids, checkpoints and log lines.
        data_info: what to record about the data in the model file (e.g. the DataSpec as a dict).
        resume: continue from ``out/checkpoint.safetensors`` (same recipe and data; ``steps`` may
            grow); every process reads it.
        force: overwrite a model already in ``out`` / take over its lock.
        rank: process rank when the caller manages processes itself; under torchrun the process
            group's rank is used. Only rank 0 writes files.
        on_step: called after every step with ``(step, total_steps, stats)``; ``stats`` are the
            latest losses read back from the device (every ``run.log_every`` steps and at grid and
            checkpoint steps; ``stats["step"]`` says which step; before the first, ``step`` alone).
        should_stop: polled after every step; when it returns true on any process, at the next
            step where losses are read back a checkpoint is written and
            :class:`~cgan_augment.TrainingInterrupted` is raised on every process. The same
            happens when the launcher of a multi-process run (torchrun) dies: each rank polls
            its parent pid after every step (no signal handler), so no worker trains on alone.

    At every sample grid of a run that writes files, the samples are checked for mode collapse
    and for a stalled generator (:func:`~cgan_augment.train.diagnostics.training_warnings`); each kind of
    problem is reported once per run as a :class:`~cgan_augment.TrainingWarning`, a
    ``{"step", "warning"}`` line in ``log.jsonl`` and an entry of the model file's ``warnings``.

    Raises:
        OutputDirError: ``out`` is locked, not writable, holds an earlier fit and neither ``resume``
            nor ``force`` was given, or is a non-empty folder no fit wrote (every command's rules,
            :class:`~cgan_augment._util.output.OutputFolder`). DeviceError: ``run.device`` is not available.
        ConfigError: the batch does not split over the processes.
        TrainingDiverged: non-finite losses. TrainingInterrupted: ``should_stop`` said so.
        TrainingCollapsed: ``run.strict`` and a collapse or stall warning.
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"train_generator fits the GAN families from a TrainConfig. Got a {type(config).__name__}; "
                          "fit any family with cgan_augment.fit_generator.")
    _check_arch(config, dataset)  # before any folder is made: a refused run leaves none behind
    group, device = _setup(run.device)
    try:
        rank = group.rank if group.world > 1 else rank
        out = Path(out) if out is not None else None
        writer = out is not None and rank == 0
        claim, error = contextlib.ExitStack(), None
        try:
            if writer:  # every family's rules for its --out, and its lock (generators/fitting.py)
                claim.enter_context(claim_output(out, resume=resume, force=force, resume_from="checkpoint.safetensors"))
        except CGANAugmentError as e:
            error = e
        group.first_error(error)  # every process stops with rank 0's message
        with claim, _cuda_speedups(device):
            return _train(dataset, config, run, out, writer, data_info or {}, resume, device, group, on_step, should_stop)
    finally:
        group.close()


def _check_arch(config: TrainConfig, dataset) -> None:
    """Build both networks for ``dataset`` on the meta device (no memory), so that an impossible
    architecture (e.g. an odd image size for dcgan) is refused before anything is written."""
    arch = dict(family=config.family, num_classes=len(dataset.classes), image_size=dataset.image_size,
                channels=dataset.channels, z_dim=config.z_dim, width=config.width)
    with torch.device("meta"):
        build_generator(**arch)
        build_discriminator(arch["family"], arch["num_classes"], arch["image_size"], arch["channels"], arch["width"])


@contextlib.contextmanager
def _cuda_speedups(device: torch.device):
    """cudnn autotuning and TF32 matmuls/convolutions for the fit on CUDA (as StyleGAN2-ADA sets
    them); the previous global settings come back afterwards."""
    if device.type != "cuda":
        yield
        return
    saved = (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cudnn.benchmark = torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class _NetForward(torch.nn.Module):
    """The generator's ``net_forward`` (output in [-1, 1]) as a module's forward, for DDP."""

    def __init__(self, generator: Generator):
        super().__init__()
        self.generator = generator

    def forward(self, z, y):
        return self.generator.net_forward(z, y)


def _build(arch: dict, config: TrainConfig, classes: list, device: torch.device, world: int = 1) -> _Nets:
    """Fresh networks and optimisers on ``device``, initialised from ``config.seed``. With several
    processes the trained generator's BatchNorms share statistics across ranks (the EMA copy,
    used by rank 0 alone, keeps plain ones)."""
    torch.manual_seed(config.seed)
    G = build_generator(**arch).to(device)
    D = build_discriminator(arch["family"], arch["num_classes"], arch["image_size"], arch["channels"], arch["width"]).to(device)
    G.classes = list(classes)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    if world > 1:
        G = _sync_batch_norm(G, device)
    betas = (config.beta1, config.beta2)
    return _Nets(G, D, G_ema, torch.optim.Adam(G.parameters(), lr=config.lr, betas=betas),
                 torch.optim.Adam(D.parameters(), lr=config.lr, betas=betas))


def _distribute(nets: _Nets, device: torch.device, world: int) -> None:
    """The modules a step calls: DDP wrappers of G (its ``net_forward``) and D with several
    processes (buffers are not broadcast: every rank computes the same ones), else G and D."""
    nets.G_train, nets.D_train = _NetForward(nets.G), nets.D
    if world > 1:
        import inspect

        from torch.nn.parallel import DistributedDataParallel as DDP

        kwargs = dict(device_ids=[device] if device.type == "cuda" else None)
        no_sync = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP).parameters else "broadcast_buffers"
        kwargs[no_sync] = False
        nets.G_train = DDP(nets.G_train, **kwargs)
        nets.D_train = DDP(nets.D, **kwargs)


def _train(dataset, config: TrainConfig, run: RunSettings, out: Optional[Path], writer: bool, data_info: dict,
           resume: bool, device: torch.device, group: _Dist, on_step, should_stop) -> Generator:
    world, d_steps = group.world, config.discriminator_steps
    if config.batch_size % world:
        raise ConfigError(f"batch_size {config.batch_size} (the global batch) does not split over {world} processes; "
                          f"use a multiple of {world}.")
    num_classes = len(dataset.classes)
    arch = dict(family=config.family, num_classes=num_classes, image_size=dataset.image_size,
                channels=dataset.channels, z_dim=config.z_dim, width=config.width)
    nets = _build(arch, config, dataset.classes, device, world)
    data_meta = data_record(dataset, data_info)  # as every family records its data
    meta = {"arch": arch, "classes": list(dataset.classes), "class_counts": class_counts(dataset),
            "train_config": asdict(config), "data": data_meta, "warnings": []}

    start = _resume(out, nets, meta, config, device) if resume and out is not None else 0
    _distribute(nets, device, world)
    maintenance = None
    if writer:
        _write_json(out / "config.json", {"train_config": asdict(config), "data": data_meta,
                                          "run": dict(asdict(run), device=str(device), processes=world)})
        maintenance = _Maintenance(out, nets, dataset, config, run, meta, start)
    group.barrier()

    sampler = _StepBatchSampler(dataset.targets, config.batch_size * d_steps, config.balanced, config.seed, start,
                               config.steps, rank=group.rank, world=world, chunks=d_steps)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=run.num_workers,
                        pin_memory=device.type == "cuda", persistent_workers=False)
    nets.G.train(), nets.D.train()
    step, last_step, last_time = start, start, time.perf_counter()
    bad = torch.zeros((), dtype=torch.bool, device=device)
    stop_asked, stats, reason = False, {"step": start}, ""
    try:
        for step, (x, y) in enumerate(loader, start=start + 1):
            losses = _step(nets, config, step, x.to(device, non_blocking=True), y.to(device, non_blocking=True),
                           (group.rank, world), run.precision)
            bad |= ~torch.isfinite(losses).all()  # on the device: no synchronisation here
            writes = step % run.sample_every == 0 or step % run.checkpoint_every == 0 or step == config.steps
            stop = collapsed = False
            if writes or step % run.log_every == 0:
                # The one read-back of the window: losses (mean over ranks), divergence and stop flags (any rank).
                flags = torch.stack([bad.float(), torch.tensor(float(stop_asked), device=device)])
                summed = dict(zip(_STATS + _FLAGS, group.reduce_stats(torch.cat([losses, flags])).tolist()))
                now = time.perf_counter()
                stats = _window_stats(summed, world, step, (step - last_step) * config.batch_size * d_steps / max(now - last_time, 1e-9), config)
                last_step, last_time = step, now
                if summed["diverged"] > 0:
                    _diverged(step, stats)
                if on_step:
                    on_step(step, config.steps, stats)
                if maintenance:
                    maintenance.after_step(step, stats)
                if step % run.checkpoint_every == 0 or step == config.steps:
                    group.check_same(nets.modules)
                if writes:  # rank 0 has written (nobody runs ahead of a checkpoint) and says whether it saw collapse
                    collapsed = group.any(bool(run.strict and maintenance and maintenance.alarm), device)
                stop = summed["stop"] > 0
            elif on_step:
                on_step(step, config.steps, stats)
            if not stop_asked and group.launcher_gone():
                stop_asked, reason = True, f"the launcher (pid {group.launcher}) has ended"
            stop_asked = stop_asked or bool(should_stop is not None and should_stop())
            if world == 1 and stop_asked and not stop:  # one process: stop at once (after checking the losses)
                if bool(bad):
                    _diverged(step, stats)
                stop = True
            if stop and step < config.steps:
                if maintenance:
                    maintenance.checkpoint(step)
                group.barrier()
                raise TrainingInterrupted(step, out, reason=reason)
            if collapsed:
                if maintenance:
                    maintenance.checkpoint(step)
                group.barrier()
                what = (maintenance.alarm[0].rstrip(".") if maintenance else "a collapse or stall warning of rank 0") + \
                    f"; the files of this step are kept in {out}."
                raise TrainingCollapsed(f"training stopped (strict=True) at {what}", cli_message=f"training stopped (--strict) at {what}")
        if start >= config.steps and maintenance:  # resumed a finished run: refresh its files
            maintenance.grid(step)
            maintenance.checkpoint(step)
        final = maintenance.eval_generator(step) if maintenance else _standing_stats(nets.G_ema, config.seed)
        group.barrier()
    finally:
        if maintenance:
            maintenance.close()
    final.classes = list(dataset.classes)
    final.metadata = dict(meta, step=step)
    return final


def _resume(out: Path, nets: _Nets, meta: dict, config: TrainConfig, device: torch.device) -> int:
    """Load ``out/checkpoint.safetensors`` into ``nets`` (every rank reads it: weights and optimiser
    states alike) after checking it was made with this recipe and data; returns its step."""
    # the recipe first: another --width must be named, not met as a tensor-shape error
    _check_resumable(out, read_metadata(out / "checkpoint.safetensors"), meta, config)
    saved = load_checkpoint(out / "checkpoint.safetensors", nets.modules, nets.optimizers)
    meta["warnings"] = list(saved.get("warnings", []))
    for module in nets.modules.values():
        module.to(device)
    return int(saved["step"])


def _window_stats(summed: dict, world: int, step: int, images_per_s: float, config: TrainConfig) -> dict:
    """The losses of a read-back window (means over ranks), as ``on_step`` and ``log.jsonl`` get them."""
    stats = {"step": step, **{k: summed[k] / world for k in _STATS}, "images_per_s": round(images_per_s, 1)}
    if config.loss == "wgan-gp":  # the critic's Wasserstein estimate E[D(real)] - E[D(fake)], for the curves
        stats["w_estimate"] = stats["d_real"] - stats["d_fake"]
    else:
        del stats["gp"]
    return stats


def fit_gan(dataset, config: TrainConfig, out: Union[str, Path, None] = None, run: RunSettings = RunSettings(), *,
            data_info: Optional[dict] = None, resume: bool = False, force: bool = False,
            on_step: Optional[Callable[[int, int, dict], None]] = None,
            should_stop: Optional[Callable[[], bool]] = None) -> Generator:
    """The GAN families' ``fit`` in the registry's form (:mod:`cgan_augment.train.families`):
    :func:`train_generator`, whose contract it keeps (lock, resume from the checkpoint, stop requests)."""
    return train_generator(dataset, config, out, run=run, data_info=data_info, resume=resume, force=force,
                           on_step=on_step, should_stop=should_stop)


def _diverged(step: int, stats: dict):
    losses = f" (loss_d={stats['loss_d']}, loss_g={stats['loss_g']})" if stats.get("step") == step else ""
    raise TrainingDiverged(f"training diverged at step {step}{losses}; the last checkpoint on disk is kept; "
                           "try a lower --lr or another --loss.")


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
