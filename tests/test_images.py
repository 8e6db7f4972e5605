"""Pictures meant for people: sample grids with class names, cells of at least 32 px, and no
warnings from figure or image libraries leaking into the command's output."""

import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from cgan_augment.cli.main import main
from click.testing import CliRunner
from conftest import make_image_folder
from PIL import Image

from cgan_augment._util.pictures import read_grid, save_grid

MIN_CELL = 32


def test_grid_has_class_names_on_rows_cells_of_32_px_and_reads_back(tmp_path):
    images = torch.rand(6, 1, 8, 8)
    save_grid(images, tmp_path / "g.png", nrow=3, row_labels=["cat", "a rather long class name that goes on"])
    with Image.open(tmp_path / "g.png") as im:
        pixels = np.asarray(im.convert("L"))
    back = read_grid(tmp_path / "g.png", 6, 3, (1, 8, 8), row_labels=["cat", "a rather long class name that goes on"])
    assert torch.equal(back, (images * 255).round() / 255)  # exact after the 8-bit round trip
    plain = tmp_path / "plain.png"
    save_grid(images, plain, nrow=3)
    with Image.open(plain) as im:
        assert im.size[0] >= 3 * MIN_CELL and im.size[1] >= 2 * MIN_CELL
        margin = pixels.shape[1] - im.size[0]
    assert margin > 40 and (pixels[:, :margin] < 128).any()  # the names are drawn left of the cells
    assert read_grid(plain, 6, 3, (1, 8, 8), row_labels=["cat", "dog"]) is None  # another layout is not misread


def test_fit_timeline_and_sample_grid_are_readable(tmp_path, image_folder):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, [str(a) for a in ("fit", image_folder, "--out", out, "--family", "dcgan", "--image-size", "16", "--width", "8",
                                                         "--batch-size", "16", "--steps", "4", "--sample-every", "2")])
    assert result.exit_code == 0, result.output
    with Image.open(out / "samples_over_time.png") as im:
        width, height = im.size
    assert height >= 3 * MIN_CELL + 12 and width >= 2 * MIN_CELL  # 3 classes by 2 steps, step numbers on top
    grid = CliRunner().invoke(main, ["sample", str(out / "model.safetensors"), "--n", "2", "--out", str(tmp_path / "g.png")])
    assert grid.exit_code == 0, grid.output
    assert read_grid(tmp_path / "g.png", 6, 2, (1, 16, 16), row_labels=["a", "b", "c"]) is not None


def _png_header_only(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def test_no_pil_or_matplotlib_warning_reaches_the_output(tmp_path):
    pytest.importorskip("matplotlib")
    root = make_image_folder(tmp_path / "data", classes=("猫", "bird 🐦", "dog"), per_class=4)
    palette = Image.new("P", (12, 12), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] * 128)
    palette.info["transparency"] = bytes([0, 128] + [255] * 254)  # PIL warns on convert unless made RGBA first
    palette.save(root / "dog" / "palette.png")
    (root / "dog" / "bomb.png").write_bytes(_png_header_only(10_000, 10_000))  # above PIL's warning limit
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        result = CliRunner().invoke(main, [str(a) for a in (
            "fit", root, "--out", tmp_path / "run", "--family", "dcgan", "--skip-bad", "--image-size", "16", "--width", "8",
            "--batch-size", "8", "--steps", "2", "--sample-every", "2")])
    assert result.exit_code == 0, result.output
    assert "skipped: 1 too large" in result.output
    assert "Warning" not in result.output and "note:" not in result.output, result.output
