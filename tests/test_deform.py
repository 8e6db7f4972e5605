"""The deform family and the batched augmentation it builds on, on the bundled 8×8 digits."""

import pytest
import torch

from cgan_augment._util.warps import warp_by_params
from cgan_augment.data.load import DataSpec, load_data
from cgan_augment.errors import ConfigError, DataError
from cgan_augment.generators.deform import DeformConfig, fit_deform_generator, register_pairs
from cgan_augment.generators.model_file import load_generator, save_generator
from cgan_augment.mixing.augmentation import Augmentation

QUICK = DeformConfig(pairs=64, registration_steps=30, min_class_size=10)


@pytest.fixture(scope="module")
def digits():
    data = load_data(DataSpec("builtin:digits", image_size=16, imbalance=50, seed=0)).train
    images = (data.dataset.images[data.indices]).contiguous()
    return images, torch.as_tensor(data.targets), data.dataset.classes


def test_augmentation_is_seeded_and_identity_when_switched_off():
    x = torch.rand(8, 1, 16, 16)
    aug = Augmentation.strong()
    a = aug(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, aug(x, torch.Generator().manual_seed(3)))
    assert not torch.allclose(a, aug(x, torch.Generator().manual_seed(4)))
    still = Augmentation(degrees=0, translate=0, scale=0)(x, torch.Generator().manual_seed(0))
    assert torch.allclose(still, x, atol=1e-5)


def test_registration_recovers_a_shift():
    a = torch.zeros(4, 1, 16, 16)
    a[:, :, 5:11, 6:9] = 1.0
    b = torch.roll(a, shifts=2, dims=3)  # 2 px to the right
    params, err = register_pairs(a, b, grid=4, steps=150, lr=0.05, sigma=1.0, smoothness=1.0)
    before = (a - b).pow(2).mean()
    assert err.max() < 0.1 * before
    # the grid maps output to input: moving ink right reads from the left, 2 px = -0.25 normalised units
    assert torch.allclose(params[:, 2], torch.full((4,), -0.25), atol=0.06)


def test_fit_sample_save_load(tmp_path, digits):
    images, labels, classes = digits
    counts = torch.bincount(labels).tolist()
    g = fit_deform_generator(images, labels, classes, QUICK)
    rarest = classes[counts.index(min(counts))]
    x = g.sample({rarest: 6, classes[0]: 2}, seed=1)
    assert x.shape == (8, 1, 16, 16) and 0 <= x.min() and x.max() <= 1
    assert torch.equal(x, g.sample({rarest: 6, classes[0]: 2}, seed=1))
    path = tmp_path / "model.safetensors"
    save_generator(g, path, {"class_counts": counts})
    back = load_generator(path)
    assert back.family == "deform" and back.exemplars == len(labels)
    assert torch.equal(back.sample({rarest: 6, classes[0]: 2}, seed=1), x)


def test_samples_stay_near_their_exemplar_for_a_one_image_class(digits):
    images, labels, classes = digits
    keep = torch.cat([torch.nonzero(labels != 9).squeeze(1), torch.nonzero(labels == 9).squeeze(1)[:1]])
    g = fit_deform_generator(images[keep], labels[keep], classes, QUICK)
    only = images[keep][labels[keep] == 9].float() / 255
    out = g.sample({"9": 16}, seed=0)
    other = images[labels == 3][:16].float() / 255
    to_exemplar = (out - only).pow(2).flatten(1).mean(1)
    to_other_class = (out - other).pow(2).flatten(1).mean(1)
    assert (out - only).abs().flatten(1).max(1).values.gt(0).all()  # every sample is a new image
    assert to_exemplar.mean() < 0.5 * to_other_class.mean()


def test_zero_warp_returns_the_exemplar():
    x = torch.rand(3, 1, 12, 12)
    params = torch.zeros(3, 6 + 2 * 4 * 4)
    assert torch.allclose(warp_by_params(x, params, 4), x, atol=1e-5)


def test_bad_settings_and_too_small_classes_are_refused(digits):
    images, labels, classes = digits
    with pytest.raises(ConfigError, match="grid"):
        DeformConfig(grid=1)
    with pytest.raises(ConfigError, match="trim"):
        DeformConfig(trim=0)
    with pytest.raises(DataError, match="min_class_size"):
        fit_deform_generator(images, labels, classes, DeformConfig(min_class_size=10_000, pairs=4, registration_steps=1))


def test_cli_fit_deform_then_sample_and_augment(tmp_path):
    from cgan_augment.cli.main import main
    from click.testing import CliRunner

    out = tmp_path / "model"
    args = ["builtin:digits", "--image-size", "16", "--imbalance", "20"]
    quick = ["--pairs", "64", "--registration-steps", "20"]  # the deform family's own flags (issue 23)
    r = CliRunner().invoke(main, ["fit", *args, "--family", "deform", *quick, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert {"model.safetensors", "samples.png", "config.json"} <= {p.name for p in out.iterdir()}
    again = CliRunner().invoke(main, ["fit", *args, "--family", "deform", "--out", str(out)])
    assert again.exit_code != 0 and "holds an earlier fit output" in again.output
    r = CliRunner().invoke(main, ["sample", str(out / "model.safetensors"), "--class", "9", "--n", "3", "--out", str(tmp_path / "s")])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "s").rglob("*.png"))) == 3
    r = CliRunner().invoke(main, ["augment", *args, "--model", str(out / "model.safetensors"), "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
