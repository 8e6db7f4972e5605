import pytest
import torch

from cgan_augment.train.losses import discriminator_loss, generator_loss, gradient_penalty, mode_seeking_loss


def test_losses_at_known_logits():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    assert discriminator_loss("hinge", real, fake).item() == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2)
    assert generator_loss("hinge", fake).item() == pytest.approx(1.0)
    assert discriminator_loss("wgan-gp", real, fake).item() == pytest.approx(-1.0 - 1.25)
    bce = discriminator_loss("bce", real, fake).item()
    expected = torch.nn.functional.binary_cross_entropy_with_logits(torch.cat([real, fake]), torch.tensor([1.0, 1, 0, 0])) * 2
    assert bce == pytest.approx(expected.item(), rel=1e-5)


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    w = torch.zeros(1, 1, 2, 2)
    w[0, 0, 0, 0] = 1.0  # gradient of sum(x * w) has norm 1 everywhere

    def critic(x, y):
        return (x * w).flatten(1).sum(1)

    real, fake = torch.rand(4, 1, 2, 2), torch.rand(4, 1, 2, 2)
    assert gradient_penalty(critic, real, fake, None, torch.Generator().manual_seed(0)).item() == pytest.approx(0.0, abs=1e-10)


def test_mode_seeking_loss_is_lower_when_images_follow_their_noise():
    z = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    alike = torch.zeros(8, 1, 4, 4) + 0.5
    varied = z[:, :, None, None].expand(8, 4, 4, 4).mean(1, keepdim=True)
    assert mode_seeking_loss(varied, z) < mode_seeking_loss(alike + 1e-3 * varied, z)
