"""SyntheticDataset, the synthetic plan and `cgan-augment augment`, on tiny real data and tiny real models."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, TensorDataset, WeightedRandomSampler

from cgan_augment import (
    ArrayImages,
    ConfigError,
    DataError,
    RunSettings,
    SyntheticDataset,
    TrainConfig,
    class_counts,
    load_generator,
    synthetic_plan,
    train_generator,
)
from cgan_augment.mixing.strategy import format_plan

COUNTS = [12, 5, 2]
CLASSES = ["a", "b", "c"]
SIZE = 8


def make_real(counts=COUNTS, classes=CLASSES, size=SIZE, channels=1, seed=0) -> ArrayImages:
    g = torch.Generator().manual_seed(seed)
    n = sum(counts)
    images = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=g)
    targets = [k for k, c in enumerate(counts) for _ in range(c)]
    return ArrayImages(images, targets, classes)


@pytest.fixture(scope="module")
def real():
    return make_real()


@pytest.fixture(scope="module")
def model_path(tmp_path_factory, real):
    out = tmp_path_factory.mktemp("model")
    train_generator(real, TrainConfig(family="mlp", steps=2, width=8, z_dim=8), out=out,
                    run=RunSettings(device="cpu", sample_every=2, checkpoint_every=2))
    return out / "model.safetensors"


@pytest.fixture(scope="module")
def generator(model_path):
    return load_generator(model_path, device="cpu")


# ----------------------------------------------------------------------------- the plan


@pytest.mark.parametrize("target, totals", [
    ("balance", [12, 12, 12]),
    ("auto", [12, 12, 12]),
    ("all", [12, 12, 12]),
    ("minority", [12, 5, 12]),
    ("not minority", [12, 12, 2]),
    (0.5, [12, 6, 6]),
    (1.0, [12, 12, 12]),
    (0.3, [12, 5, 3]),  # floor(0.3 × 12) = 3, as imbalanced-learn rounds
    ({"c": 7}, [12, 5, 7]),
    ({2: 7, "b": 5}, [12, 5, 7]),
    (lambda y: {c: max(n, 9) for c, n in Counter(y).items()}, [12, 9, 9]),  # y: the class of every real item
    (lambda y: {2: len(y)}, [12, 5, 19]),
])
def test_each_target_form_gives_planned_counts(real, generator, target, totals):
    ds = SyntheticDataset(real, generator, target)
    assert class_counts(ds) == totals
    assert [p["total"] for p in ds.plan.values()] == totals
    assert ds.plan["b"] == {"real": 5, "synthetic": totals[1] - 5, "total": totals[1]}
    assert len(ds) == sum(totals) and ds.num_real == sum(COUNTS)
    assert ds.pool.dtype == torch.uint8 and ds.pool.shape == (sum(totals) - sum(COUNTS), 1, SIZE, SIZE)
    assert synthetic_plan(dict(zip(CLASSES, COUNTS)), target) == ds.plan


def test_plan_never_drops_real_items_and_prints_a_table():
    plan = synthetic_plan([10, 3, 0], 0.3)
    assert [p["synthetic"] for p in plan.values()] == [0, 0, 3]
    table = format_plan(plan)
    assert table.splitlines()[0].split() == ["class", "real", "synthetic", "total"]
    assert table.splitlines()[-1].split() == ["total", "13", "3", "16"]


@pytest.mark.parametrize("target, message", [
    (1.5, "When 'target' is a float, it should be in the range (0, 1]. Got 1.5 instead."),
    (0.0, "range (0, 1]. Got 0.0 instead."),
    ("most", "When 'target' is a string, it should be one of ['auto', 'minority', 'not minority', 'not majority', "
             "'all', 'balance']. Got 'most' instead."),
    ({"zebra": 20}, "Class 'zebra' in 'target' is not a class of the data; the classes are ['a', 'b', 'c']."),
    ({7: 20}, "Class 7 in 'target' is not a class of the data"),
    ({"c": 0}, "The wanted total for class 'c' in 'target' should be at least its real count: there are 2 real items "
               "and 0 are asked (real items are never dropped)."),
    ({"c": -3}, "should be a whole number >= 0. Got -3 instead."),
    ({"c": 2.5}, "should be a whole number >= 0. Got 2.5 instead."),
    ({"a": 4}, "there are 12 real items and 4 are asked"),
    (lambda y: 12, "When 'target' is a callable, it should return a dict {class: wanted_total}. Got int instead."),
    (lambda y: {"nope": 3}, "Class 'nope' returned by the 'target' callable is not a class"),
    ([1, 2, 3], "'target' should be 'auto', 'minority', 'not minority', 'not majority', 'all' (or 'balance'), a float"),
])
def test_bad_target_gives_one_clear_error(real, generator, target, message):
    with pytest.raises(ConfigError) as e:
        SyntheticDataset(real, generator, target)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"refresh": "step"}, "'refresh' should be one of 'fixed', 'epoch'. Got 'step' instead."),
    ({"seed": -1}, "'seed' should be a whole number >= 0. Got -1 instead."),
    ({"batch_size": 0}, "'batch_size' should be a positive whole number. Got 0 instead."),
])
def test_bad_settings(real, generator, kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SyntheticDataset(real, generator, **kwargs)


# ----------------------------------------------------------------------------- seeds and epochs


def test_same_seed_same_items_other_seed_other_items(real, generator):
    a = SyntheticDataset(real, generator, seed=3)
    b = SyntheticDataset(real, generator, seed=3)
    c = SyntheticDataset(real, generator, seed=4)
    assert torch.equal(a.pool, b.pool)
    assert all(torch.equal(a[i][0], b[i][0]) and a[i][1] == b[i][1] for i in range(len(a)))
    assert not torch.equal(a.pool, c.pool)
    assert a.pool.float().std() > 0


def test_a_small_batch_size_makes_the_pool_in_seeded_batches(real, generator):
    """Class b gets 7 synthetic items: batches of 3 are three forward passes, each with its own seed."""
    small = SyntheticDataset(real, generator, seed=3, batch_size=3)
    again = SyntheticDataset(real, generator, seed=3, batch_size=3)
    whole = SyntheticDataset(real, generator, seed=3)
    assert torch.equal(small.pool, again.pool)  # same seed and batch size: same images
    assert small.targets == whole.targets and small.pool.shape == whole.pool.shape  # the batch size never changes the plan
    b = small.pool[:7]  # class b's items come first (class a has none to add)
    assert not torch.equal(b[0:3], b[3:6])  # each batch draws its own noise


def test_set_epoch_makes_a_new_pool_only_with_refresh_epoch(real, generator):
    ds = SyntheticDataset(real, generator, refresh="epoch", seed=1)
    first = ds.pool.clone()
    ds.set_epoch(1)
    assert not torch.equal(first, ds.pool)
    assert ds.targets == SyntheticDataset(real, generator, seed=1).targets  # same plan, new images
    ds.set_epoch(0)
    assert torch.equal(first, ds.pool)  # seeded by (seed, epoch)
    fixed = SyntheticDataset(real, generator, seed=1)
    fixed.set_epoch(5)
    assert torch.equal(first, fixed.pool)
    with pytest.raises(ConfigError, match="'epoch' should be a whole number >= 0"):
        ds.set_epoch(-1)


# ----------------------------------------------------------------------------- item format


class PILImages(Dataset):
    """A torchvision-style dataset without `targets`: PIL images, optional transform."""

    def __init__(self, base: ArrayImages, mode="L", transform=None):
        self.base, self.mode, self.transform = base, mode, transform
        self.classes = base.classes
        self.reads = 0

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        self.reads += 1
        x = self.base.images[i]
        im = Image.fromarray(x[0].numpy(), mode="L").convert(self.mode)
        return (self.transform(im) if self.transform else im), self.base.targets[i]


def _check_same_format(a, b):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
    else:
        assert isinstance(b, Image.Image) and (a.mode, a.size) == (b.mode, b.size)


def test_items_match_float_tensor_format(real, generator):
    ds = SyntheticDataset(real, generator)
    x_real, y_real = ds[0]
    x_syn, y_syn = ds[len(ds) - 1]
    _check_same_format(x_real, x_syn)
    assert type(y_real) is int and type(y_syn) is int and y_syn == 2
    assert 0 <= x_syn.min() and x_syn.max() <= 1 and x_syn.dtype == torch.float32


def test_items_match_uint8_tensordataset_by_index(real, generator):
    labels = torch.as_tensor(real.targets)
    ds = SyntheticDataset(TensorDataset(real.images[:, 0], labels), generator)  # uint8 H×W, no class names
    assert ds.classes == generator.classes and class_counts(ds) == [12, 12, 12]
    x_syn, _ = ds[-1]
    assert x_syn.dtype == torch.uint8 and x_syn.shape == (SIZE, SIZE)
    with pytest.raises(DataError, match="real label 5 has no class in the generator, which knows 3 classes"):
        SyntheticDataset(TensorDataset(real.images, torch.full((len(real),), 5)), generator)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_items_match_pil_format_and_labels_are_counted_once(real, generator, mode):
    pil = PILImages(real, mode=mode)
    ds = SyntheticDataset(pil, generator, resize=(mode == "RGB"))
    assert pil.reads == len(real) + 1  # one pass for the labels, one probe item
    _check_same_format(ds[0][0], ds[len(ds) - 1][0])
    assert class_counts(ds) == [12, 12, 12]


def test_transform_applies_to_synthetic_items_only(real, generator):
    from torchvision.transforms import v2 as T

    norm = T.Normalize([0.5], [0.5])
    ds = SyntheticDataset(ArrayImages(real.images, real.targets, real.classes, transform=norm), generator, transform=norm)
    assert ds[0][0].min() < 0 and ds[-1][0].min() < 0  # both in [-1, 1]
    with pytest.raises(ConfigError, match="'transform' failed on a synthetic image"):
        SyntheticDataset(real, generator, transform=lambda im: im.convert("L"))  # a PIL transform on tensors
    with pytest.raises(ConfigError, match="synthetic images would be float32 tensor of shape 1×4×4 but the real images are"):
        SyntheticDataset(real, generator, transform=T.Resize(4))


def test_is_synthetic_and_return_source(real, generator):
    ds = SyntheticDataset(real, generator, return_source=True)
    n = ds.num_real
    assert not ds.is_synthetic(0) and not ds.is_synthetic(n - 1) and ds.is_synthetic(n) and ds.is_synthetic(-1)
    assert ds[0][2] is False and ds[n][2] is True
    batch = ds.__getitems__([n, 0, -1])
    assert [b[2] for b in batch] == [True, False, True] and [b[1] for b in batch] == [1, 0, 2]
    assert all(torch.equal(b[0], ds[i][0]) for b, i in zip(batch, [n, 0, -1]))
    with pytest.raises(IndexError):
        ds[len(ds)]


# ----------------------------------------------------------------------------- bad inputs


def test_real_class_unknown_to_generator(generator):
    other = make_real(classes=["a", "b", "zebra"])
    with pytest.raises(DataError, match="the real dataset has class 'zebra' that the generator does not know"):
        SyntheticDataset(other, generator)


def test_size_or_channel_mismatch_errors_or_resizes(generator):
    bigger = make_real(size=12)
    with pytest.raises(DataError, match=r"the generator makes 1×8×8 images \(C×H×W\) but the real images are 1×12×12; pass resize=True"):
        SyntheticDataset(bigger, generator)
    assert SyntheticDataset(bigger, generator, resize=True)[-1][0].shape == (1, 12, 12)
    color = make_real(channels=3)
    with pytest.raises(DataError, match="real images are 3×8×8"):
        SyntheticDataset(color, generator)
    assert SyntheticDataset(color, generator, resize=True)[-1][0].shape == (3, 8, 8)


def test_generator_path_and_other_generator_types(real, model_path, generator):
    from_path = SyntheticDataset(real, str(model_path), device="cpu")
    assert torch.equal(from_path.pool, SyntheticDataset(real, generator).pool)
    with pytest.raises(ConfigError, match="'generator' should be a cgan_augment Generator or the path"):
        SyntheticDataset(real, object())


# ----------------------------------------------------------------------------- DataLoader


def test_dataloader_with_two_workers_shuffle_and_sampler(real, generator):
    ds = SyntheticDataset(real, generator, return_source=True)
    loader = DataLoader(ds, batch_size=8, shuffle=True, num_workers=2)
    seen, n_syn = torch.zeros(3, dtype=torch.long), 0
    for x, y, synthetic in loader:
        assert x.shape[1:] == (1, SIZE, SIZE) and x.dtype == torch.float32
        seen += torch.bincount(y, minlength=3)
        n_syn += int(synthetic.sum())
    assert seen.tolist() == [12, 12, 12] and n_syn == ds.num_synthetic
    weights = [1.0 / class_counts(ds)[t] for t in ds.targets]
    sampler = WeightedRandomSampler(weights, num_samples=30, generator=torch.Generator().manual_seed(0))
    assert sum(len(b[1]) for b in DataLoader(ds, batch_size=8, sampler=sampler, num_workers=2)) == 30


def test_persistent_workers_see_the_new_pool_after_set_epoch(real, generator):
    ds = SyntheticDataset(real, generator, refresh="epoch")
    loader = DataLoader(ds, batch_size=len(ds), num_workers=2, persistent_workers=True)
    for epoch in range(2):
        ds.set_epoch(epoch)
        (x, _), = list(loader)
        assert torch.equal(x[ds.num_real:], ds.pool.float() / 255)


# ----------------------------------------------------------------------------- cgan-augment augment


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory, real):
    """The tiny real set as an ImageFolder tree of PNG files (one in a sub-folder)."""
    root = tmp_path_factory.mktemp("folder")
    for i, (x, y) in enumerate(zip(real.images, real.targets)):
        folder = root / CLASSES[y] / ("nested" if i == 0 else "")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[0].numpy(), mode="L").save(folder / f"img{i:03d}.png")
    return root


def _run(args):
    from cgan_augment.cli.main import main
    from click.testing import CliRunner

    return CliRunner().invoke(main, args)


def test_augment_folder_reads_back_with_planned_counts(image_folder, model_path, tmp_path):
    from torchvision.datasets import ImageFolder

    out = tmp_path / "balanced"
    result = _run(["augment", str(image_folder), "--model", str(model_path), "--out", str(out), "--link"])
    assert result.exit_code == 0, result.output
    assert [line.split() for line in result.output.splitlines()[:5]] == [
        ["class", "real", "synthetic", "total"], ["a", "12", "0", "12"], ["b", "5", "7", "12"], ["c", "2", "10", "12"],
        ["total", "19", "17", "36"]]
    back = ImageFolder(str(out))
    assert back.classes == CLASSES and np.bincount(back.targets).tolist() == [12, 12, 12]
    assert (out / "a" / "nested" / "img000.png").stat().st_ino == (image_folder / "a" / "nested" / "img000.png").stat().st_ino
    assert len(list((out / "c").glob("synthetic_*.png"))) == 10 and (out / "augment.json").is_file()
    x, _ = back[len(back) - 1]
    assert x.size == (SIZE, SIZE)

    again = _run(["augment", str(image_folder), "--model", str(model_path), "--out", str(out), "--target", "0.5"])
    assert again.exit_code == 1 and "holds an earlier augment output; pass --force to replace it" in again.output
    forced = _run(["augment", str(image_folder), "--model", str(model_path), "--out", str(out), "--target", "0.5", "--force"])
    assert forced.exit_code == 0, forced.output
    assert np.bincount(ImageFolder(str(out)).targets).tolist() == [12, 6, 6]  # replaced, no stale files
    assert not list(tmp_path.glob(".balanced.*"))  # no temporary folder left behind
    inside = _run(["augment", str(image_folder), "--model", str(model_path), "--out", str(image_folder / "x")])
    assert inside.exit_code == 1 and "lies inside the real image folder" in inside.output


def test_augment_npz_writes_real_items_as_png(real, model_path, tmp_path):
    from torchvision.datasets import ImageFolder

    npz = tmp_path / "tiny.npz"
    np.savez(npz, x=real.images[:, 0].numpy(), y=np.array(real.targets), classes=np.array(CLASSES))
    out = tmp_path / "out"
    result = _run(["augment", str(npz), "--model", str(model_path), "--out", str(out), "--target", "0.5", "--seed", "1"])
    assert result.exit_code == 0, result.output
    back = ImageFolder(str(out))
    assert np.bincount(back.targets).tolist() == [12, 6, 6]
    assert (out / "a" / "real_00000.png").is_file() and (out / "c" / "synthetic_00003.png").is_file()
    assert np.array_equal(np.asarray(Image.open(out / "a" / "real_00000.png")), real.images[0, 0].numpy())  # lossless


@pytest.mark.parametrize("target, totals", [("minority", [12, 5, 12]), ("not minority", [12, 12, 2]),
                                            ("b=9,c=4", [12, 9, 4]), ("auto", [12, 12, 12])])
def test_augment_target_takes_the_sampling_strategy_forms(real, model_path, tmp_path, target, totals):
    import json

    npz = tmp_path / "tiny.npz"
    np.savez(npz, x=real.images[:, 0].numpy(), y=np.array(real.targets), classes=np.array(CLASSES))
    result = _run(["augment", str(npz), "--model", str(model_path), "--out", str(tmp_path / "o"), "--target", target])
    assert result.exit_code == 0, result.output
    plan = json.loads((tmp_path / "o" / "augment.json").read_text())["plan"]
    assert [p["total"] for p in plan.values()] == totals


@pytest.mark.parametrize("args, message", [
    (["--target", "lots"], "error: --target should be 'auto', 'minority', 'not minority', 'not majority', 'all', "
                           "'balance', a ratio in (0, 1] or NAME=TOTAL pairs ('cat=500,dog=300'). Got 'lots' instead."),
    (["--target", "c=many"], "error: --target as a dict should be NAME=TOTAL pairs separated by commas"),
    (["--target", "zebra=3"], "error: Class 'zebra' in 'target' is not a class of the data; the classes are ['a', 'b', 'c']."),
    (["--target", "1.5"], "error: When 'target' is a float, it should be in the range (0, 1]. Got 1.5 instead."),
    (["--image-size", "12"], "error: the generator makes 1×8×8 images (C×H×W) but the real images are 1×12×12"),
])
def test_augment_bad_input_is_one_line(image_folder, model_path, tmp_path, args, message):
    result = _run(["augment", str(image_folder), "--model", str(model_path), "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 1 and result.output.strip().splitlines()[-1].startswith(message), result.output
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()


def test_augment_size_mismatch_names_the_flag_not_the_argument(image_folder, model_path, tmp_path):
    result = _run(["augment", str(image_folder), "--model", str(model_path), "--out", str(tmp_path / "o"), "--image-size", "12"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "error: the generator makes 1×8×8 images (C×H×W) but the real images are 1×12×12; pass --resize to resize "
        "generated images to the real size, or load DATA at the generator's size (leave out --image-size and --channels).")


def test_float_labels_must_be_whole_numbers(real, generator):
    labels = torch.as_tensor(real.targets, dtype=torch.float32)
    whole = SyntheticDataset(TensorDataset(real.images, labels), generator)
    assert class_counts(whole) == [12, 12, 12]
    labels[3] = 1.5
    with pytest.raises(DataError) as info:
        SyntheticDataset(TensorDataset(real.images, labels), generator)
    assert str(info.value) == "real labels should be integer class indices. Got 1.5 at item 3."
