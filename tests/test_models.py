import pytest
import torch

from cgan_augment import ConfigError
from cgan_augment.generators.networks import build_discriminator, build_generator


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


def _named_generator():
    g = build_generator("mlp", 5, 8, 1, z_dim=4, width=4)
    g.classes = ["zero", "one", "two", "three", "four"]
    return g


def test_a_string_is_one_class_name_not_a_sequence_of_characters():
    g = _named_generator()
    one = g.sample("four", seed=1)
    assert one.shape == (1, 1, 8, 8) and torch.equal(one, g.sample(["four"], seed=1))
    with pytest.raises(ConfigError) as info:
        g.sample("five")
    assert str(info.value) == "unknown class 'five'; this generator knows ['zero', 'one', 'two', 'three', 'four']."


@pytest.mark.parametrize("labels, message", [
    ({"four": -1}, "the count for class 'four' should be a positive whole number of images. Got -1."),
    ({"four": 0}, "the count for class 'four' should be a positive whole number of images. Got 0."),
    ({"four": 2.5}, "the count for class 'four' should be a positive whole number of images. Got 2.5."),
    ({"four": 2.0}, "the count for class 'four' should be a positive whole number of images. Got 2.0."),
    ({"four": True}, "the count for class 'four' should be a positive whole number of images. Got True."),
    (3, "labels should be a sequence of classes (names or indices) or a dict {class: count}. Got the single number 3: "
        "pass [3] for one image of class 3, or {3: n} for n images of it."),
    (2.5, "labels should be a class name, a sequence of classes (names or indices) or a dict {class: count}. Got 2.5 (float)."),
    ([1.5], "a class is a name (str) or an index (int). Got 1.5 (float)."),
    (torch.tensor([1.5]), "a labels tensor should hold integer class indices. Got dtype float32."),
])
def test_counts_and_labels_that_are_not_whole_positive_numbers_are_refused(labels, message):
    with pytest.raises(ConfigError) as info:
        _named_generator().sample(labels)
    assert str(info.value) == message


def test_numpy_integers_are_class_indices():
    import numpy as np

    g = _named_generator()
    assert torch.equal(g.sample({"four": np.int64(2)}, seed=0), g.sample([np.int64(4), 4], seed=0))
