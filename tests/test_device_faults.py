"""The mixing pieces and a generator on another device than the batch's. This machine has no
CUDA, so the meta device stands in: it holds shapes but no values, so the mixers must refuse it
in one line (before the fix: RuntimeError or NotImplementedError from inside torch), and
Augmentation must draw from the caller's generator wherever the batch is (before the fix a
batch on another device than the generator's raised inside torch on CUDA, and on meta silently
drew nothing from it)."""

import pytest
import torch

from cgan_augment import ArrayImages, Augmentation, BatchMixer, DeviceError, SyntheticDataset
from cgan_augment.generators.networks import build_generator

CLASSES = ["a", "b", "c"]


def _generator(device="cpu", family="mlp"):
    g = build_generator(family, 3, 8, 1, z_dim=4, width=8)
    g.classes = list(CLASSES)
    return g.to(device)


def _one_line(info, *words):
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_batch_mixer_refuses_a_generator_or_batch_without_values():
    x, y = torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    with pytest.raises(DeviceError) as info:
        BatchMixer(_generator("meta"), 1.0)(x, y)
    _one_line(info, "BatchMixer's generator", "meta device")
    with pytest.raises(DeviceError) as info:
        BatchMixer(_generator(), 1.0)(x.to("meta"), y.to("meta"))
    _one_line(info, "batch given to BatchMixer", "meta device")


def test_batch_mixer_draws_the_same_noise_as_before_for_a_variant_family():
    """The deform family's noise is now drawn by the mixer and handed to ``vary`` (so that it can be
    moved to the generator's device); the numbers are those ``vary`` drew itself."""
    from cgan_augment.generators.networks import DeformGenerator

    g = DeformGenerator(3, 8, 1, z_dim=15, width=2)  # 6 + 2·2·2 warp numbers and the exemplar pick
    g.classes = list(CLASSES)
    with torch.no_grad():
        g.warp_scale_tril.copy_(0.05 * torch.eye(14))  # a fresh model's warps are all the mean: make noise matter
    x, y = torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    assert not torch.equal(BatchMixer(g, 1.0, seed=3)(x, y)[0], BatchMixer(g, 1.0, seed=4)(x, y)[0])
    mixed, _, swap = BatchMixer(g, 1.0, seed=3)(x, y)
    rng = torch.Generator().manual_seed(3)
    assert bool((torch.rand(6, generator=rng) < 1.0).all()) and bool(swap.all())
    assert torch.equal(mixed, g.vary(x, generator=rng))


def test_augmentation_draws_from_the_callers_generator_whatever_the_batch_device():
    x = torch.rand(4, 1, 8, 8)
    on_cpu, on_meta = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    Augmentation.strong()(x, on_cpu)
    out = Augmentation.strong()(x.to("meta"), on_meta)
    assert out.device.type == "meta" and out.shape == x.shape
    assert torch.equal(on_meta.get_state(), on_cpu.get_state())  # the same draws, made on the generator's device


@pytest.mark.parametrize("device", [None, "auto", "cpu"])
def test_synthetic_dataset_refuses_a_generator_without_values(device):
    real = ArrayImages(torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8), [0, 0, 0, 0, 1, 2], CLASSES)
    with pytest.raises(DeviceError) as info:
        SyntheticDataset(real, _generator("meta"), "balance", device=device)
    _one_line(info, "SyntheticDataset's generator", "meta device")
