"""Latent walks: the interpolation, a walk and a 2-D grid for every family, the Generator.decode
hook, and `cgan-augment sample --walk`."""

import pytest
import torch
from cgan_augment.cli.main import main
from click.testing import CliRunner
from conftest import make_image_folder
from PIL import Image

from cgan_augment import ConfigError, DataSpec, TrainConfig, load_data, train_generator
from cgan_augment._util.pictures import read_grid
from cgan_augment.generators.deform import DeformConfig, fit_deform_generator
from cgan_augment.generators.model_file import load_generator, save_generator
from cgan_augment.generators.networks import ConvGenerator, build_generator
from cgan_augment.generators.walks import interpolate, latent_grid, latent_walk, write_walk


def test_slerp_keeps_the_norm_and_turns_by_equal_angles():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(2, 64, generator=g)
    z1 = z1 * z0.norm() / z1.norm()  # same norm: slerp stays on the sphere
    path = interpolate(z0, z1, torch.linspace(0, 1, 9))
    assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)
    assert torch.allclose(path.norm(dim=1), z0.norm().expand(9), rtol=1e-5)
    unit = path / path.norm(dim=1, keepdim=True)
    angles = torch.arccos((unit[:-1] * unit[1:]).sum(1).clamp(-1, 1))
    assert torch.allclose(angles, angles.mean().expand(8), rtol=1e-3)
    # the chord dips inside the sphere, where Gaussian noise of this size almost never lies
    mid = interpolate(z0, z1, torch.tensor([0.5]), "linear")[0]
    assert mid.norm() < 0.8 * z0.norm()
    assert torch.allclose(mid, (z0 + z1) / 2)
    with pytest.raises(ConfigError, match="cubic"):
        interpolate(z0, z1, torch.tensor([0.5]), "cubic")


@pytest.fixture(scope="module")
def digits():
    data = load_data(DataSpec("builtin:digits", image_size=16, imbalance=10, seed=0)).train
    return data.dataset.images[data.indices].contiguous(), torch.as_tensor(data.targets), data.dataset.classes


def _generator(family, digits):
    """A generator of ``family`` for the 10 digit classes: the GANs untrained, deform fitted (quickly)."""
    images, labels, classes = digits
    if family == "deform":
        return fit_deform_generator(images, labels, classes, DeformConfig(pairs=16, registration_steps=5, min_class_size=10))
    torch.manual_seed(0)
    g = build_generator(family, num_classes=10, image_size=16, channels=1, z_dim=8, width=8)
    g.classes = list(classes)
    return g


@pytest.mark.parametrize("family", ("mlp", "dcgan", "deform"))
def test_walk_and_grid_for_every_family(family, digits):
    g = _generator(family, digits)
    g.train()
    rows = latent_walk(g, ["0", "1", "2"], n=5, seed=3)
    assert rows.shape == (15, 1, 16, 16) and 0 <= rows.min() and rows.max() <= 1
    walk = rows.view(3, 5, -1)
    assert all(not torch.allclose(walk[k, 0], walk[k, -1]) for k in range(3))  # the images move along the walk
    assert not torch.allclose(walk[0], walk[1])  # and differ by class
    assert torch.equal(rows, latent_walk(g, ["0", "1", "2"], n=5, seed=3))
    assert not torch.equal(rows, latent_walk(g, ["0", "1", "2"], n=5, seed=4))
    only_b = latent_walk(g, ["1"], n=5, seed=3)
    assert torch.allclose(only_b, rows[5:10], atol=1e-6)
    assert latent_walk(g, n=2).shape == (20, 1, 16, 16)  # every class by default
    sheet = latent_grid(g, "2", n=4, seed=3)
    assert sheet.shape == (16, 1, 16, 16)
    cells = sheet.view(4, 4, -1)
    assert not torch.allclose(cells[0, 0], cells[3, 3]) and not torch.allclose(cells[0, 0], cells[0, 3])
    assert g.training  # decode restored the mode it found


def test_a_deform_walk_keeps_its_exemplar(digits, tmp_path):
    """The exemplar-conditioned family moves only the warp: the noise entry that picks the exemplar is held."""
    g = _generator("deform", digits)
    z = torch.randn(2, g.z_dim).repeat(2, 1)
    z[2:, -1] = torch.tensor([-3.0, 3.0])  # other exemplar picks: no effect under decode
    y = torch.tensor([1, 1, 1, 1])
    x = g.decode(z, y, seed=0)
    assert torch.equal(x[:2], x[2:])
    assert not torch.equal(g(z, y)[:2], g(z, y)[2:])  # whereas sampling does pick by that entry
    assert not torch.equal(x, g.decode(z, y, seed=1))  # another seed, other exemplars
    save_generator(g, tmp_path / "deform.safetensors", {"class_counts": torch.bincount(digits[1]).tolist()})
    result = CliRunner().invoke(main, ["sample", str(tmp_path / "deform.safetensors"), "--walk", "--n", "4",
                                       "--walk-grid", "9", "--out", str(tmp_path / "walk.png")])
    assert result.exit_code == 0, result.output
    back = load_generator(tmp_path / "deform.safetensors")
    rows = read_grid(tmp_path / "walk.png", 40, 4, (1, 16, 16), row_labels=back.classes)
    assert rows is not None and (rows - latent_walk(back, n=4)).abs().max() <= 0.5 / 255 + 1e-6
    assert read_grid(tmp_path / "walk_9_grid.png", 16, 4, (1, 16, 16)) is not None


def test_walk_goes_through_the_decode_hook():
    """A family with other inputs (an exemplar) plugs in by overriding Generator.decode."""

    class HeldFixed(ConvGenerator):
        calls = []

        def decode(self, z, y, seed=0):
            self.calls.append((z.clone(), y.clone(), seed))
            return super().decode(z, y, seed)

    g = HeldFixed(num_classes=2, image_size=16, channels=1, z_dim=8, width=8)
    latent_walk(g, n=4, seed=7)
    z, y, seed = HeldFixed.calls[-1]
    assert seed == 7 and y.tolist() == [0] * 4 + [1] * 4
    assert torch.equal(z[:4], z[4:])  # every class walks between the same noise vectors
    latent_grid(g, 1, n=3, seed=7)
    assert HeldFixed.calls[-1][1].tolist() == [1] * 9


def test_bad_walk_settings_name_the_value():
    g = build_generator("mlp", 2, 16, 1, z_dim=8, width=8)
    with pytest.raises(ConfigError, match="at least 2"):
        latent_walk(g, n=1)
    with pytest.raises(ConfigError, match="unknown class 'z'"):
        latent_grid(g, "z")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("walkdata")
    data = load_data(DataSpec(str(make_image_folder(root / "data")), image_size=16)).train
    train_generator(data, TrainConfig(steps=2, width=8, z_dim=8, batch_size=16), root / "run")
    return root / "run" / "model.safetensors"


def test_sample_walk_cli_writes_rows_and_a_grid(model_file, tmp_path):
    run = lambda *a: CliRunner().invoke(main, [str(x) for x in a])  # noqa: E731
    result = run("sample", model_file, "--walk", "--n", 6, "--out", tmp_path / "w" / "walk.png", "--walk-grid", "b")
    assert result.exit_code == 0, result.output
    g = load_generator(model_file)
    rows = read_grid(tmp_path / "w" / "walk.png", 18, 6, (1, 16, 16), row_labels=["a", "b", "c"])
    assert rows is not None  # a row per class, labelled with its name
    assert (rows - latent_walk(g, n=6)).abs().max() <= 0.5 / 255 + 1e-6  # the walk's images, to the grey level
    sheet = read_grid(tmp_path / "w" / "walk_b_grid.png", 36, 6, (1, 16, 16))
    assert (sheet - latent_grid(g, "b", n=6)).abs().max() <= 0.5 / 255 + 1e-6
    linear = run("sample", model_file, "--walk", "--class", "a", "--n", 3, "--interpolation", "linear", "--out", tmp_path / "a.png")
    assert linear.exit_code == 0, linear.output
    a = read_grid(tmp_path / "a.png", 3, 3, (1, 16, 16), row_labels=["a"])
    assert (a - latent_walk(g, ["a"], n=3, mode="linear")).abs().max() <= 0.5 / 255 + 1e-6
    for args, words in (((tmp_path / "walk_dir",), ".png"), ((tmp_path / "x.png", "--walk-grid", "zebra"), "zebra")):
        bad = run("sample", model_file, "--walk", "--out", *args)
        assert bad.exit_code == 1 and bad.output.strip().splitlines()[-1].startswith("error: ") and words in bad.output
    no_walk = run("sample", model_file, "--walk-grid", "a", "--out", tmp_path / "y.png")
    assert no_walk.exit_code == 1 and "--walk-grid only applies with --walk" in no_walk.output


def test_write_walk_takes_a_generator_in_memory(tmp_path):
    g = build_generator("dcgan", 2, 16, 3, z_dim=8, width=8)
    paths = write_walk(g, tmp_path / "rgb.png", n=4)
    with Image.open(paths[0]) as im:
        assert im.mode == "RGB"
    rows = read_grid(paths[0], 8, 4, (3, 16, 16), row_labels=["0", "1"])
    assert rows is not None and (rows - latent_walk(g, n=4)).abs().max() <= 0.5 / 255 + 1e-6
