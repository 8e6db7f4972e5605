"""The batched augmentation's resamplings: the elastic field is the reference's, warps keep the background."""

import pytest
import torch

from cgan_augment._util.warps import elastic_displacement, warp_by_params


def test_elastic_field_is_torchvision_blur_of_per_image_noise_drawn_in_order():
    """shared/REFERENCE.md's elastic step: uniform noise per image, torchvision's gaussian_blur
    (kernel 17, sigma 4, reflect padding), times alpha; the batch draws each image's field in turn."""
    from torchvision.transforms.v2.functional import gaussian_blur

    field = elastic_displacement(5, 28, 28, torch.Generator().manual_seed(3), "cpu", alpha=24.0, sigma=4.0)
    gen = torch.Generator().manual_seed(3)
    one_by_one = torch.cat([gaussian_blur(torch.rand(1, 2, 28, 28, generator=gen) * 2 - 1, [17, 17], [4.0, 4.0])
                            for _ in range(5)]) * 24 * (2 / 28)
    assert torch.allclose(field, one_by_one, atol=1e-6)
    assert (field[0] - field[1]).abs().mean() > 0.01  # a field per image, not one for the batch
    again = elastic_displacement(5, 28, 28, torch.Generator().manual_seed(3), "cpu")
    assert torch.equal(field, again)
    assert not torch.equal(field, elastic_displacement(5, 28, 28, torch.Generator().manual_seed(4), "cpu"))


def test_elastic_field_on_small_images_still_works():
    assert elastic_displacement(2, 8, 8, torch.Generator().manual_seed(0), "cpu").shape == (2, 2, 8, 8)


@pytest.mark.parametrize("grid", [3, 5])
def test_a_warp_past_the_border_continues_a_coloured_background(grid):
    """A large shift and a wild control grid must not paint black (zeros) into a flat coloured image."""
    x = torch.tensor([0.2, 0.6, 0.9]).view(1, 3, 1, 1).expand(4, 3, 16, 16).contiguous()
    params = torch.randn(4, 6 + 2 * grid * grid, generator=torch.Generator().manual_seed(0)) * 0.5
    params[:, 2] = 0.8  # shift by 40 % of the side: most of the output samples outside the input
    out = warp_by_params(x, params, grid)
    assert torch.allclose(out, x, atol=1e-5)
    zeros = warp_by_params(x, params, grid, padding="zeros")
    assert zeros.min() < 0.1  # what the old padding did
