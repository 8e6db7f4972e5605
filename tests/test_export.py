"""The ImageFolder writer replaces an earlier output without ever losing it."""

import json
import os

import pytest
import torch

from cgan_augment import ArrayImages, OutputDirError, SyntheticDataset
from cgan_augment._util.files import replace_folder
from cgan_augment.generators.networks import build_generator
from cgan_augment.mixing.export import MARKER, write_image_folder

CLASSES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def datasets():
    """Two SyntheticDatasets over one tiny real set (12/5/2 items) that plan different totals."""
    g = build_generator("mlp", 3, 8, 1, z_dim=8, width=8)  # untrained: the writer does not care what it draws
    g.classes = CLASSES
    images = torch.randint(0, 256, (19, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    real = ArrayImages(images, [0] * 12 + [1] * 5 + [2] * 2, CLASSES)
    return SyntheticDataset(real, g, "balance"), SyntheticDataset(real, g, 0.5)


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_force_replaces_an_earlier_output_whole(datasets, tmp_path):
    balanced, half = datasets
    out = tmp_path / "out"
    assert write_image_folder(balanced, out) == {"a": 12, "b": 12, "c": 12}
    assert write_image_folder(half, out, force=True) == {"a": 12, "b": 6, "c": 6}
    assert len(list((out / "c").glob("*.png"))) == 6  # no stale files of the first output
    assert json.loads((out / MARKER).read_text())["plan"]["c"]["total"] == 6
    assert os.listdir(tmp_path) == ["out"]  # neither the build folder nor the old one is left beside it


def test_a_failed_swap_keeps_the_earlier_output_and_says_so(datasets, tmp_path, monkeypatch):
    balanced, half = datasets
    out = tmp_path / "out"
    write_image_folder(balanced, out)
    before, marker = _tree(out), (out / MARKER).read_text()
    real_replace = os.replace

    def fails_on_the_new_tree(src, dst):
        if os.path.isdir(src) and str(src).endswith(".tmp"):  # the finished tree, not one of its files
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", fails_on_the_new_tree)
    with pytest.raises(OutputDirError, match="No space left on device.*the earlier output in it is unchanged"):
        write_image_folder(half, out, force=True)
    assert _tree(out) == before and (out / MARKER).read_text() == marker
    assert os.listdir(tmp_path) == ["out"]


def test_a_crash_while_writing_leaves_the_earlier_output(datasets, tmp_path):
    balanced, half = datasets
    out = tmp_path / "out"
    write_image_folder(balanced, out)
    before = _tree(out)

    def crash(done, total):
        if done == 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_image_folder(half, out, force=True, on_item=crash)
    assert _tree(out) == before and os.listdir(tmp_path) == ["out"]


def test_a_failed_first_write_creates_nothing(datasets, tmp_path):
    def disk_error(done, total):
        raise OSError(5, "Input/output error")

    with pytest.raises(OutputDirError, match=r"Input/output error\); nothing was written to it\."):
        write_image_folder(datasets[0], tmp_path / "new", on_item=disk_error)
    assert os.listdir(tmp_path) == []


def test_replace_folder_onto_nothing_empty_and_full(tmp_path):
    for name, setup in (("none", None), ("empty", "dir"), ("full", "file")):
        new, out = tmp_path / f"{name}.tmp", tmp_path / name
        new.mkdir()
        (new / "new.txt").write_text("new")
        if setup:
            out.mkdir()
            if setup == "file":
                (out / "old.txt").write_text("old")
        replace_folder(new, out)
        assert os.listdir(out) == ["new.txt"] and not new.exists()
    assert sorted(os.listdir(tmp_path)) == ["empty", "full", "none"]


@pytest.fixture
def mixed_folder(tmp_path):
    """Real files of three sizes and modes: 28×28 L, 40×40 RGB, 50×50 16-bit, and a JPEG."""
    import numpy as np
    from PIL import Image

    root = tmp_path / "mixed"
    for k, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        Image.new("L", (28, 28), 30 * k).save(root / name / "gray.png")
        Image.new("RGB", (40, 40), (200, 10 * k, 0)).save(root / name / "color.png")
        Image.fromarray(np.full((50, 50), 20000 + k, np.uint16)).save(root / name / "deep.png")
        Image.new("RGB", (33, 21), (0, 0, 90)).save(root / name / "photo.jpg")
    return root


def test_augment_writes_one_size_and_mode_unless_asked_to_keep_the_files(mixed_folder, tmp_path):
    from cgan_augment.cli.main import main
    from click.testing import CliRunner
    from PIL import Image

    from cgan_augment import save_generator

    g = build_generator("mlp", 3, 16, 1, z_dim=8, width=8)
    g.classes = CLASSES
    save_generator(g, tmp_path / "model.safetensors", {})
    run = lambda *a: CliRunner().invoke(main, ["augment", str(mixed_folder), "--model", str(tmp_path / "model.safetensors"), *map(str, a)])  # noqa: E731
    result = run("--out", tmp_path / "uniform", "--target", "a=6")
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "uniform").rglob("*.png"))
    looks = {(Image.open(p).size, Image.open(p).mode) for p in files}
    assert looks == {((16, 16), "L")}, looks  # real and generated alike: the model's size and channels
    assert sorted(p.name for p in (tmp_path / "uniform" / "a").iterdir()) == [
        "color.png", "deep.png", "gray.png", "photo.png", "synthetic_00000.png", "synthetic_00001.png"]
    assert json.loads((tmp_path / "uniform" / MARKER).read_text())["real_files"] == "converted"
    kept = run("--out", tmp_path / "kept", "--target", "a=6", "--keep-real-files")
    assert kept.exit_code == 0, kept.output
    assert (tmp_path / "kept" / "b" / "photo.jpg").read_bytes() == (mixed_folder / "b" / "photo.jpg").read_bytes()
    assert Image.open(tmp_path / "kept" / "a" / "color.png").size == (40, 40)
