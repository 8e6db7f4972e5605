"""GAN losses on discriminator logits: ``bce`` (non-saturating), ``hinge`` and ``wgan-gp``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["LOSSES", "discriminator_loss", "generator_loss", "gradient_penalty", "mode_seeking_loss"]

from .._util.choices import LOSSES  # noqa: E402  (defined without torch, for the settings)


def discriminator_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Loss the discriminator minimises; logits are (N,). The gradient penalty is added separately."""
    if kind == "bce":
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return fake_logits.mean() - real_logits.mean()  # wgan-gp critic


def generator_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """Loss the generator minimises (non-saturating form for ``bce``)."""
    if kind == "bce":
        return F.softplus(-fake_logits).mean()
    return -fake_logits.mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor, generator=None,
                     alpha: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017): E[(‖∇ critic(x̂, y)‖₂ − 1)²] on random interpolates x̂
    (``alpha``: N×1×1×1 mixing weights, drawn from ``generator`` when not given)."""
    if alpha is None:
        alpha = torch.rand(len(real), 1, 1, 1, generator=generator).to(real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed, y).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def mode_seeking_loss(fake: torch.Tensor, z: torch.Tensor, eps: float = 1e-5, reduce_mean=None) -> torch.Tensor:
    """Mode-seeking term (Mao et al. 2019, MSGAN) for a batch of adjacent pairs (items 2k and 2k+1
    share a label): 1 / (mean |G(z1) - G(z2)| / mean |z1 - z2|), small when images differ as their
    noise does. ``reduce_mean`` turns a per-rank mean into the mean over all ranks (training on
    several processes), so the term is that of the whole batch."""
    reduce_mean = reduce_mean or (lambda t: t)
    ratio = reduce_mean((fake[0::2] - fake[1::2]).abs().mean()) / reduce_mean((z[0::2] - z[1::2]).abs().mean())
    return 1.0 / (ratio + eps)
