"""Writing images: PNG files and sample grids (class names on the rows, cells at least 32 px), each
written atomically; and quiet figures (no known matplotlib complaint in the output)."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

import torch

from .files import atomic_path

__all__ = ["save_grid", "grid_mark", "check_picture_target", "read_grid", "save_png", "quiet_figure_warnings", "MIN_CELL", "GRID_SUFFIXES"]

MIN_CELL = 32  # smallest side, in screen pixels, of one image in a picture meant for a person
_PAD, _FONT_SIZE, _MAX_LABEL = 2, 12, 24
_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def _font():
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=_FONT_SIZE)  # Pillow's own scalable font (needs FreeType)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _short(label: str) -> str:
    label = str(label)
    return label if len(label) <= _MAX_LABEL else label[:_MAX_LABEL - 1] + "…"


def _text_width(font, text: str) -> int:
    try:
        return int(round(font.getlength(text)))
    except UnicodeEncodeError:  # the bitmap fallback font knows Latin-1 only
        return int(round(font.getlength(text.encode("latin-1", "replace").decode("latin-1"))))


def _layout(n: int, nrow: int, h: int, w: int, row_labels, col_labels, min_cell: int) -> dict:
    """Where everything of a grid goes: upscale factor, label margins, cell pitch, picture size."""
    font = _font()
    rows_wide = [_text_width(font, _short(t)) for t in (row_labels or [])]
    cols_wide = [_text_width(font, _short(t)) for t in (col_labels or [])]
    # integer nearest-neighbour upscale so the smaller side is >= min_cell and column labels fit
    need = max(min_cell, max(cols_wide, default=0) + 2)
    scale = max(1, -(-need // w), -(-min_cell // h))
    rows = -(-n // nrow)
    left = max(rows_wide, default=-1) + 2 * _PAD + 2 if row_labels else 0
    top = _FONT_SIZE + 3 * _PAD if col_labels else 0
    pitch_x, pitch_y = w * scale + _PAD, h * scale + _PAD
    return {"scale": scale, "left": left, "top": top, "pitch_x": pitch_x, "pitch_y": pitch_y, "font": font,
            "size": (left + _PAD + nrow * pitch_x, top + _PAD + rows * pitch_y)}


def _grid_picture(images: torch.Tensor, nrow: int, row_labels=None, col_labels=None, min_cell: int = MIN_CELL):
    """A PIL picture of float N×C×H×W images in [0, 1]: ``nrow`` per row, each upscaled (nearest)
    to at least ``min_cell`` px, ``row_labels`` left of the rows, ``col_labels`` above the columns."""
    from PIL import Image, ImageDraw

    n, c, h, w = images.shape
    at = _layout(n, nrow, h, w, row_labels, col_labels, min_cell)
    data = (images.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    data = data.repeat_interleave(at["scale"], 2).repeat_interleave(at["scale"], 3).permute(0, 2, 3, 1).numpy()
    mode = "L" if c == 1 else "RGB"
    picture = Image.new(mode, at["size"], 255 if c == 1 else (255, 255, 255))
    for i in range(n):
        x = at["left"] + _PAD + (i % nrow) * at["pitch_x"]
        y = at["top"] + _PAD + (i // nrow) * at["pitch_y"]
        picture.paste(Image.fromarray(data[i, :, :, 0] if c == 1 else data[i]), (x, y))
    draw, ink = ImageDraw.Draw(picture), 0 if c == 1 else (0, 0, 0)
    for r, label in enumerate(row_labels or []):
        y = at["top"] + _PAD + r * at["pitch_y"] + (at["pitch_y"] - _PAD - _FONT_SIZE) // 2
        _draw_text(draw, (_PAD, y), _short(label), at["font"], ink)
    for k, label in enumerate(col_labels or []):
        _draw_text(draw, (at["left"] + _PAD + k * at["pitch_x"], _PAD), _short(label), at["font"], ink)
    return picture


def _draw_text(draw, xy, text: str, font, ink) -> None:
    try:
        draw.text(xy, text, fill=ink, font=font)
    except UnicodeEncodeError:  # the bitmap fallback font knows Latin-1 only
        draw.text(xy, text.encode("latin-1", "replace").decode("latin-1"), fill=ink, font=font)


GRID_SUFFIXES = tuple(_FORMATS)
_MARK_KEY = "cgan-augment"


def save_grid(images: torch.Tensor, path: Union[str, Path], nrow: int, row_labels: Optional[Sequence[str]] = None,
              col_labels: Optional[Sequence[str]] = None, min_cell: int = MIN_CELL, mark: str = "") -> None:
    """Save float N×C×H×W images in [0, 1] as one picture, ``nrow`` images per row, each shown at
    least ``min_cell`` px (nearest-neighbour), with ``row_labels`` (e.g. class names) left of the
    rows and ``col_labels`` above the columns. PNG, or JPEG for a ``.jpg``/``.jpeg`` path.
    ``mark`` is stored in the file (a PNG text chunk, a JPEG comment); :func:`grid_mark` reads it."""
    from PIL.PngImagePlugin import PngInfo

    path = Path(path)
    picture = _grid_picture(images, nrow, row_labels, col_labels, min_cell)
    kind = _FORMATS.get(path.suffix.lower(), "PNG")
    extra: dict = {}
    if kind == "JPEG":
        extra = {"quality": 95, **({"comment": f"{_MARK_KEY}: {mark}"} if mark else {})}
    elif mark:
        extra["pnginfo"] = PngInfo()
        extra["pnginfo"].add_text(_MARK_KEY, mark)
    with atomic_path(path) as tmp:
        picture.save(tmp, format=kind, **extra)


def check_picture_target(path: Union[str, Path], mark: str, what: str, force: bool = False) -> None:
    """May a picture marked ``mark`` be written at ``path``? Yes if nothing is there, or if an
    earlier one with that mark is and ``force`` is given; a file without the mark is never
    written over. ``what`` names the picture in messages (e.g. "sample grid").

    Raises:
        OutputDirError: ``path`` is a folder, a file we did not write, or ours without ``force``.
    """
    from ..errors import OutputDirError

    path = Path(path)
    if not path.exists():
        return
    if path.is_dir():
        raise OutputDirError(f"{path}: is a folder; a {what} needs a file name.")
    if grid_mark(path) != mark:
        raise OutputDirError(f"{path}: exists and was not written by `cgan-augment sample`; it is left alone, even with "
                             "force=True. Choose another file name.",
                             cli_message=f"{path}: exists and was not written by `cgan-augment sample`; it is left alone, "
                                         "even with --force. Choose another --out.")
    if not force:
        raise OutputDirError(f"{path}: holds an earlier {what}; pass force=True to replace it, or choose another file name.",
                             cli_message=f"{path}: holds an earlier {what}; pass --force to replace it, or choose another --out.")


def grid_mark(path: Union[str, Path]) -> str:
    """The ``mark`` that :func:`save_grid` stored in ``path`` ("" when none, or not a readable image)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            comment = im.info.get("comment", b"")
            comment = comment.decode("utf-8", "replace") if isinstance(comment, bytes) else str(comment)
            if comment.startswith(f"{_MARK_KEY}: "):
                return comment[len(_MARK_KEY) + 2:]
            return str(getattr(im, "text", {}).get(_MARK_KEY, "")) if im.format == "PNG" else ""
    except (OSError, UnidentifiedImageError, ValueError):
        return ""


def read_grid(path: Union[str, Path], n: int, nrow: int, shape: Sequence[int], row_labels: Optional[Sequence[str]] = None,
              col_labels: Optional[Sequence[str]] = None, min_cell: int = MIN_CELL) -> Optional[torch.Tensor]:
    """The ``n`` images (float C×H×W in [0, 1]) of a PNG that :func:`save_grid` wrote with the same
    arguments, or ``None`` when the picture is not laid out that way."""
    import numpy as np
    from PIL import Image

    c, h, w = shape
    at = _layout(n, nrow, h, w, row_labels, col_labels, min_cell)
    with Image.open(path) as im:
        if im.size != at["size"]:
            return None
        arr = np.asarray(im.convert("L" if c == 1 else "RGB"), dtype=np.uint8).reshape(im.size[1], im.size[0], -1)
    s, cells = at["scale"], []
    for i in range(n):
        x = at["left"] + _PAD + (i % nrow) * at["pitch_x"]
        y = at["top"] + _PAD + (i // nrow) * at["pitch_y"]
        cells.append(arr[y:y + h * s:s, x:x + w * s:s])
    return torch.from_numpy(np.stack(cells)).permute(0, 3, 1, 2).float() / 255


def save_png(image: torch.Tensor, path: Union[str, Path]) -> None:
    """Save one float C×H×W image in [0, 1] as PNG, through a temporary file and a rename."""
    from PIL import Image

    path = Path(path)
    data = (image.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    with atomic_path(path) as tmp:
        Image.fromarray(data[:, :, 0] if data.shape[2] == 1 else data).save(tmp, format="PNG")


@contextlib.contextmanager
def quiet_figure_warnings() -> Iterator[None]:
    """Silence matplotlib's known, harmless complaints while we draw a figure: glyphs of class names
    missing from its font (they show as boxes) and a tight layout that could not be applied."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from (current )?font")
        warnings.filterwarnings("ignore", message=r"(Tight layout not applied|tight_layout)")
        yield
