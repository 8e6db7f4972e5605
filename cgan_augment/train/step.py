"""One optimisation step: ``d_steps`` discriminator updates, one generator update and the EMA
update, on this rank's slice of the global batch, every random draw seeded by ``(seed, step)``."""

from __future__ import annotations

import torch

from .config import TrainConfig
from .diffaugment import diff_augment
from .distributed import _differentiable_all_reduce
from .losses import discriminator_loss, generator_loss, gradient_penalty, mode_seeking_loss
from .maintenance import _Nets
from .sampler import _step_seed


def _rank_seed(seed: int, step: int, rank: int) -> int:
    base = _step_seed(seed, step)
    return base if rank == 0 else (base * 1_000_003 + rank) % (2**63)


def _step(nets: _Nets, config: TrainConfig, step: int, x: torch.Tensor, y: torch.Tensor,
          shard: tuple = (0, 1), precision: str = "fp32") -> torch.Tensor:
    """One step on this rank's slice of the real batch (x: (b·d_steps, C, H, W) in [0, 1],
    y: (b·d_steps,), on the device): ``d_steps`` discriminator updates, one generator update, the
    EMA update. Noise, DiffAugment and penalty numbers are drawn on the device from
    ``(config.seed, step)`` for the global batch and sliced by ``shard=(rank, world)``, so the
    processes together do what one process does; dropout draws from ``(seed, step, rank)``.
    Returns the losses, mean logits and penalty as one device tensor ordered as ``_STATS``
    [loss_d, loss_g, d_real, d_fake, gp] (no synchronisation with the device)."""
    G, D, device = nets.G, nets.D, x.device
    rank, world = shard
    rng = torch.Generator(device=device).manual_seed(_step_seed(config.seed, step))
    torch.manual_seed(_rank_seed(config.seed, step, rank))  # dropout and anything else on the global RNG

    def draw(fn, n, *shape):
        return fn(n * world, *shape, generator=rng, device=device)[rank * n:(rank + 1) * n]

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    x = x * 2 - 1  # (b·d_steps, C, H, W) in [-1, 1]
    for xr, yr in zip(x.chunk(config.discriminator_steps), y.chunk(config.discriminator_steps)):
        z = draw(torch.randn, len(yr), config.z_dim)
        with autocast:
            with torch.no_grad():
                fake = G.net_forward(z, yr)
            d_real = nets.D_train(diff_augment(xr, config.diffaugment, rng, shard), yr)
            d_fake = nets.D_train(diff_augment(fake, config.diffaugment, rng, shard), yr)
            loss_d = discriminator_loss(config.loss, d_real, d_fake)
            penalty = torch.zeros((), device=device)
            if config.loss == "wgan-gp":
                alpha = draw(torch.rand, len(xr), 1, 1, 1)
                penalty = gradient_penalty(D, xr, fake, yr, alpha=alpha.to(xr.dtype))
                loss_d = loss_d + config.gp_weight * penalty
        nets.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        nets.opt_d.step()
    z = draw(torch.randn, len(yr), config.z_dim)
    if config.mode_seeking:
        pairs = len(yr) // 2  # adjacent pairs, same class, different noise: a pair never straddles two ranks
        yr, z = yr[0:2 * pairs:2].repeat_interleave(2), z[:2 * pairs]
    D.requires_grad_(False)  # the generator's update needs no gradient of D
    try:
        with autocast:
            fake = nets.G_train(z, yr)
            loss_g = generator_loss(config.loss, D(diff_augment(fake, config.diffaugment, rng, shard), yr))
            if config.mode_seeking:
                loss_g = loss_g + config.mode_seeking * mode_seeking_loss(fake.float(), z, reduce_mean=_rank_mean(world))
    finally:
        D.requires_grad_(True)
    nets.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    nets.opt_g.step()
    _update_ema(nets.G_ema, G, min(config.ema_decay, (1 + step) / (10 + step)))
    return torch.stack([loss_d.detach(), loss_g.detach(), d_real.detach().mean(), d_fake.detach().mean(),
                        penalty.detach()]).float()


def _rank_mean(world: int):
    """Mean over ranks of a per-rank scalar, differentiable (its backward sums the ranks'
    gradients, which DDP's averaging then turns into the whole batch's gradient)."""
    if world == 1:
        return None
    return lambda t: _differentiable_all_reduce(t) / world


_STATS = ("loss_d", "loss_g", "d_real", "d_fake", "gp")


def _update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for p_ema, p in zip(ema.parameters(), model.parameters()):
            p_ema.lerp_(p, 1 - decay)
        for b_ema, b in zip(ema.buffers(), model.buffers()):
            b_ema.copy_(b)
