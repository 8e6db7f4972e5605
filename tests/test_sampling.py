"""ClassBalancedSampler and BatchMixer: how synthetic items enter a training loop."""

import pytest
import torch
from torch.utils.data import DataLoader

from cgan_augment.data.arrays import ArrayImages
from cgan_augment.data.load import DataSpec, load_data
from cgan_augment.errors import ConfigError
from cgan_augment.generators.deform import DeformConfig, fit_deform_generator
from cgan_augment.mixing.samplers import BatchMixer, ClassBalancedSampler, by_class_size
from cgan_augment.mixing.synthetic import SyntheticDataset


class _Flagged:
    """A dataset whose last items are synthetic: classes 0 (90 real + 10 synthetic), 1 (8 real + 10), 2 (2 real)."""

    def __init__(self):
        self.targets = [0] * 90 + [1] * 8 + [2] * 2 + [0] * 10 + [1] * 10
        self.num_real = 100
        self.classes = ["big", "small", "tiny"]

    def __len__(self):
        return len(self.targets)


def _shares(sampler, n=20_000):
    idx = sampler.draw(n)
    ds = _Flagged()
    y = torch.tensor(ds.targets)[idx]
    syn = idx >= ds.num_real
    return torch.bincount(y, minlength=3).double() / n, [float(syn[y == c].double().mean()) for c in range(3)]


def test_classes_uniform_and_synthetic_share_as_asked():
    per_class, syn = _shares(ClassBalancedSampler(_Flagged(), {"small": 0.5}, seed=0))
    assert torch.allclose(per_class, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.02)
    assert syn[0] == 0 and abs(syn[1] - 0.5) < 0.03 and syn[2] == 0


def test_by_class_size_gives_more_to_rarer_classes():
    per_class, syn = _shares(ClassBalancedSampler(_Flagged(), by_class_size(0.5, threshold=40), seed=0))
    assert syn[0] == 0  # 90 real images: above the threshold
    assert abs(syn[1] - 0.5 * (1 - 8 / 40)) < 0.03


def test_warmup_seed_and_epoch():
    s = ClassBalancedSampler(_Flagged(), 0.5, warmup_epochs=1, seed=3)
    assert (s.draw(5000) < 100).all()  # epoch 0 is warm-up: real items only
    s.set_epoch(1)
    first = list(s)
    assert (torch.tensor(first) >= 100).any()
    again = ClassBalancedSampler(_Flagged(), 0.5, warmup_epochs=1, seed=3)
    again.set_epoch(1)
    assert list(again) == first
    again.set_epoch(2)
    assert list(again) != first


@pytest.mark.parametrize("bad, match", [(1.5, "lie in"), ({"nope": 0.1}, "not one of"), ("all", "float, a dict")])
def test_bad_fractions_are_refused(bad, match):
    with pytest.raises(ConfigError, match=match):
        ClassBalancedSampler(_Flagged(), bad)


@pytest.fixture(scope="module")
def digits_and_model():
    data = load_data(DataSpec("builtin:digits", image_size=16, imbalance=20, seed=0)).train
    images = data.dataset.images[data.indices].contiguous()
    labels = torch.as_tensor(data.targets)
    real = ArrayImages(images, labels.tolist(), data.dataset.classes)
    model = fit_deform_generator(images, labels, real.classes, DeformConfig(pairs=32, registration_steps=10, min_class_size=10))
    return real, model


def test_sampler_with_synthetic_dataset_and_dataloader(digits_and_model):
    real, model = digits_and_model
    ds = SyntheticDataset(real, model, target="balance", seed=0)
    sampler = ClassBalancedSampler(ds, by_class_size(0.5, threshold=60), seed=0)
    loader = DataLoader(ds, batch_size=64, sampler=sampler)
    x, y = next(iter(loader))
    assert x.shape == (64, 1, 16, 16) and y.dtype == torch.int64
    counts = torch.bincount(torch.tensor(ds.targets)[: ds.num_real], minlength=10)
    idx = sampler.draw(5000)
    syn = idx >= ds.num_real
    big = int(counts.argmax())
    assert not syn[torch.tensor(ds.targets)[idx] == big].any()


def test_batch_mixer_replaces_about_p_and_keeps_the_rest(digits_and_model):
    real, model = digits_and_model
    x = real.images[:256].float() / 255
    y = torch.tensor(real.targets[:256])
    mixer = BatchMixer(model, 0.5, seed=1)
    out, y_out, swapped = mixer(x, y)
    assert torch.equal(y_out, y) and out.shape == x.shape
    assert 0.35 < swapped.float().mean() < 0.65
    assert torch.equal(out[~swapped], x[~swapped]) and not torch.equal(out[swapped], x[swapped])
    again = BatchMixer(model, 0.5, seed=1)(x, y)
    assert torch.equal(again[0], out)


def test_without_set_epoch_each_epoch_of_a_dataloader_draws_a_fresh_order():
    """Before the fix a loop that never called set_epoch replayed epoch 0 forever."""
    loader = DataLoader(range(120), batch_size=30, sampler=ClassBalancedSampler(_Flagged(), 0.5, seed=3))
    first, second = ([int(i) for batch in loader for i in batch] for _ in range(2))
    assert first != second
    explicit = ClassBalancedSampler(_Flagged(), 0.5, seed=3)
    explicit.set_epoch(1)
    assert list(explicit) == second  # iteration k without set_epoch is epoch k
    assert list(explicit) == second  # with set_epoch(e) the order is a function of (seed, e): again the same
    big = lambda order: {i for i in order if i < 90}  # noqa: E731
    assert len(big(first) | big(second)) > len(big(first))  # the large class shows more of itself over two epochs


def test_a_tensor_dataset_is_read_like_synthetic_dataset_reads_it():
    """Before the fix: AttributeError, 'TensorDataset' object has no attribute 'targets'."""
    from torch.utils.data import TensorDataset

    ds = TensorDataset(torch.zeros(12, 1, 4, 4), torch.tensor([0] * 9 + [1] * 3))
    idx = ClassBalancedSampler(ds, 0.0, seed=0).draw(4000)
    assert abs(float((idx >= 9).double().mean()) - 0.5) < 0.03  # class 1 (items 9-11) drawn half the time
