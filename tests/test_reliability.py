"""Bad data at scale: a folder holding every kind of broken or unusual file a scraped dataset has."""

import io
import os
import pathlib
import re
import struct
import zlib

import numpy as np
import pytest
from cgan_augment.cli.main import main
from click.testing import CliRunner
from conftest import make_image_folder
from PIL import Image

from cgan_augment import DataError, DataSpec, class_counts, load_data


def _png_claiming(width, height):
    """A PNG whose header declares width×height but carries almost no data (a decompression bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def _bytes(image, fmt, **kwargs):
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


# Files that must be skipped (and counted by kind) with --skip-bad, and name themselves without it.
BAD = {
    "garbage.png": (b"this is not an image", "not a readable image"),
    "text.jpg": (b"wrong extension: I am text", "not a readable image"),
    "zero.png": (b"", "empty file"),
    "huge.png": (_png_claiming(100_000, 100_000), "too large"),
}
# Files that are odd but good: they must be read and converted, never skipped.
GOOD = {
    "cmyk.jpg": _bytes(Image.new("CMYK", (10, 10), (0, 50, 100, 0)), "JPEG"),
    "palette.png": _bytes(Image.new("P", (10, 10), 3), "PNG"),
    "sixteen.png": _bytes(Image.fromarray(np.full((10, 10), 40000, np.uint16)), "PNG"),
    "rgba.png": _bytes(Image.new("RGBA", (10, 10), (10, 20, 30, 128)), "PNG"),
    "wrong-extension.bmp": _bytes(Image.new("L", (10, 10), 7), "PNG"),
    "animated.gif": _bytes(Image.new("L", (10, 10), 0), "GIF", save_all=True,
                           append_images=[Image.new("L", (10, 10), 255)]),
    b"non-utf8-\xff\xfe.png": _bytes(Image.new("L", (10, 10), 9), "PNG"),
}


@pytest.fixture
def messy(tmp_path):
    root = make_image_folder(tmp_path / "messy", per_class=4, size=10)
    truncated = (root / "a" / "000.png").read_bytes()
    (root / "b" / "truncated.png").write_bytes(truncated[: len(truncated) - 30])
    for name, (content, _) in BAD.items():
        (root / "a" / name).write_bytes(content)
    for name, content in GOOD.items():
        path = os.path.join(os.fsencode(root / "c"), name if isinstance(name, bytes) else name.encode())
        with open(path, "wb") as f:
            f.write(content)
    os.symlink(root / "c", root / "c" / "loop")            # a symbolic-link loop
    os.symlink(root / "nowhere.png", root / "b" / "dangling.png")  # a link to nothing
    return root


CASES = len(BAD) + 2 + len(GOOD) + 1  # bad files, truncated + dangling link, odd-but-good files, link loop


def test_skip_bad_trains_on_the_good_files_and_counts_each_kind(messy):
    data = load_data(DataSpec(str(messy), skip_bad=True, image_size=16))
    assert class_counts(data.train) == [4, 4, 4 + len(GOOD)]
    assert data.skipped == {"not a readable image": 2, "empty file": 1, "too large": 1,
                            "truncated or corrupt image": 1, "missing file": 1}
    for i in range(len(data.train)):  # every kept image decodes to the same format
        x, _ = data.train[i]
        assert x.shape == (3, 16, 16) and 0 <= x.min() and x.max() <= 1
    # The README quotes how many cases this folder checks; count them from what happened to it:
    # each bad file skipped, each odd file read, and the link loop followed once (class c not doubled).
    handled = sum(data.skipped.values()) + (class_counts(data.train)[2] - 4) + 1
    quoted = re.search(r"checks all (\d+) of these cases", (pathlib.Path(__file__).parents[1] / "README.md").read_text())
    assert handled == CASES and quoted and int(quoted.group(1)) == handled


def test_without_skip_bad_the_first_bad_file_is_named(messy):
    with pytest.raises(DataError) as info:
        load_data(DataSpec(str(messy)))
    message = str(info.value)
    assert "\n" not in message and "skip_bad=True" in message
    assert any(name in message for name in list(BAD) + ["truncated.png", "dangling.png"])


def test_cli_reports_skips_and_trains(messy, tmp_path):
    result = CliRunner().invoke(main, ["fit", str(messy), "--skip-bad", "--family", "dcgan", "--out", str(tmp_path / "o"),
                                       "--image-size", "16", "--width", "8", "--steps", "2", "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    assert "skipped: 1 empty file, 1 missing file, 2 not a readable image, 1 too large, 1 truncated or corrupt image" in result.output


def test_out_that_cannot_be_created_is_one_clear_line(tmp_path, image_folder):
    (tmp_path / "file").write_text("I am a file, not a folder")
    result = CliRunner().invoke(main, ["fit", str(image_folder), "--out", str(tmp_path / "file" / "out"),
                                       "--family", "dcgan", "--steps", "1", "--width", "8", "--image-size", "16"])
    assert result.exit_code == 1 and result.output.strip().splitlines()[-1].startswith("error: ")
    assert "cannot create the output folder" in result.output
