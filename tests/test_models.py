import pytest
import torch

from cgan_augment import ConfigError
from cgan_augment.models import build_discriminator, build_generator


@pytest.mark.parametrize("family", ["dcgan", "mlp"])
@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (16, 1)])
def test_shapes_and_value_range(family, size, channels):
    g = build_generator(family, num_classes=3, image_size=size, channels=channels, z_dim=8, width=8)
    d = build_discriminator(family, num_classes=3, image_size=size, channels=channels, width=8)
    y = torch.tensor([0, 1, 2, 1])
    x = g(torch.randn(4, 8), y)
    assert x.shape == (4, channels, size, size) and x.min() >= 0 and x.max() <= 1
    assert d(x * 2 - 1, y).shape == (4,)


def test_discriminator_uses_torch_spectral_norm():
    d = build_discriminator("dcgan", 3, 28, 1, width=8)
    assert any(torch.nn.utils.parametrize.is_parametrized(m) for m in d.modules())


def test_label_changes_the_output():
    g = build_generator("dcgan", 3, 16, 1, z_dim=8, width=8).eval()
    z = torch.randn(1, 8).repeat(2, 1)
    x = g(z, torch.tensor([0, 2]))
    assert not torch.allclose(x[0], x[1])


def test_sample_by_names_counts_and_seed():
    g = build_generator("mlp", 2, 16, 1, z_dim=8, width=8)
    g.classes = ["cat", "dog"]
    a = g.sample({"cat": 2, "dog": 3}, seed=5)
    assert a.shape == (5, 1, 16, 16)
    assert torch.equal(a, g.sample(["cat", "cat", "dog", "dog", "dog"], seed=5))
    assert not torch.equal(a, g.sample({"cat": 2, "dog": 3}, seed=6))
    with pytest.raises(ConfigError, match="unknown class 'cow'"):
        g.sample(["cow"])


def test_odd_image_size_is_refused_for_dcgan():
    with pytest.raises(ConfigError, match="image_size 7"):
        build_generator("dcgan", 2, 7, 1, z_dim=8, width=8)
