"""Writing images: sample grids and per-class PNG files, each written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import torch

from .checkpoint import load_generator
from .files import atomic_path
from .devices import resolve_device
from .errors import ConfigError, OutputDirError

__all__ = ["save_grid", "save_png", "write_samples"]


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


def write_samples(model: Union[str, Path], out: Union[str, Path], classes: Optional[Sequence[str]] = None,
                  n: int = 16, seed: int = 0, device: str = "auto") -> list[Path]:
    """Sample ``n`` images of each class in ``classes`` (names or indices; default all) from the
    model file ``model``. ``out`` ending in ``.png`` gets one grid (one row per class); otherwise
    ``out/<class>/00000.png``… Returns the paths written."""
    if n < 1:
        raise ConfigError(f"--n should be a positive number of images. Got {n}.")
    generator = load_generator(model, device=resolve_device(device))
    wanted = list(classes) if classes else list(generator.classes)
    labels = [generator.class_index(int(c) if isinstance(c, str) and c not in generator.classes and c.isdigit() else c)
              for c in wanted]
    images = generator.sample(torch.tensor(labels).repeat_interleave(n), seed=seed).cpu()
    out = Path(out)
    try:
        if out.suffix.lower() == ".png":
            out.parent.mkdir(parents=True, exist_ok=True)
            save_grid(images, out, nrow=n)
            return [out]
        paths = []
        for i, label in enumerate(labels):
            folder = out / generator.classes[label]
            folder.mkdir(parents=True, exist_ok=True)
            for j in range(n):
                paths.append(folder / f"{j:05d}.png")
                save_png(images[i * n + j], paths[-1])
        return paths
    except OSError as e:
        raise OutputDirError(f"{out}: cannot write here ({e.strerror}).") from None
