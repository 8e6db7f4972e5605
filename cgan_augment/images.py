"""Writing images: PNG files and sample grids, each written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Union

import torch

from .files import atomic_path

__all__ = ["save_grid", "save_png"]


def save_grid(images: torch.Tensor, path: Union[str, Path], nrow: int) -> None:
    """Save float N×C×H×W images in [0, 1] as one PNG grid of ``nrow`` images per row."""
    from torchvision.utils import make_grid

    save_png(make_grid(images.detach().cpu(), nrow=nrow, padding=1, pad_value=1.0), path)


def save_png(image: torch.Tensor, path: Union[str, Path]) -> None:
    """Save one float C×H×W image in [0, 1] as PNG, through a temporary file and a rename."""
    from PIL import Image

    path = Path(path)
    data = (image.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    with atomic_path(path) as tmp:
        Image.fromarray(data[:, :, 0] if data.shape[2] == 1 else data).save(tmp, format="PNG")
