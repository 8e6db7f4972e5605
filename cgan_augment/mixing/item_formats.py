"""Item formats of real datasets: a tensor, a numpy array or a PIL image, learned from one real
item, so that synthetic items can be served in the same kind, dtype, layout and range."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import DataError

__all__ = ["_ItemFormat", "_describe", "_same_format"]

_SERIAL_NUMEL = 32768 - 1  # torch's at::internal::GRAIN_SIZE: smaller element-wise ops run on one thread


def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"{str(x.dtype).replace('torch.', '')} tensor of shape {'×'.join(map(str, x.shape))}"
    if isinstance(x, np.ndarray):
        return f"{x.dtype} numpy array of shape {'×'.join(map(str, x.shape))}"
    try:
        from PIL import Image

        if isinstance(x, Image.Image):
            return f"PIL image, mode {x.mode}, {x.size[0]}×{x.size[1]}"
    except ImportError:  # pragma: no cover
        pass
    return type(x).__name__


class _ItemFormat:
    """How real images look, learned from one real item: the kind (tensor, numpy, PIL), dtype and
    layout. Converts uint8 N×C×H×W pool images to that kind, in its natural range: float in [0, 1],
    uint8 in 0..255, PIL in its own mode."""

    def __init__(self, image):
        from PIL import Image

        self.squeeze = False  # real images have no channel axis (H×W)
        if isinstance(image, torch.Tensor):
            self.kind, self.dtype = "tensor", image.dtype
            if image.ndim == 2:
                self.squeeze, (h, w), c = True, image.shape, 1
            elif image.ndim == 3:
                c, h, w = image.shape
            else:
                raise DataError(f"real images should be tensors C×H×W or H×W. Got {_describe(image)}.")
            if not (image.is_floating_point() or image.dtype == torch.uint8):
                raise DataError(f"real image tensors should be float or uint8. Got {_describe(image)}.")
        elif isinstance(image, np.ndarray):
            self.kind, self.dtype = "numpy", image.dtype
            if image.ndim == 2:
                self.squeeze, (h, w), c = True, image.shape, 1
            elif image.ndim == 3:
                h, w, c = image.shape  # numpy images are channels-last, as PIL and OpenCV give them
            else:
                raise DataError(f"real numpy images should be H×W or H×W×C. Got {_describe(image)}.")
            if not (np.issubdtype(image.dtype, np.floating) or image.dtype == np.uint8):
                raise DataError(f"real numpy images should be float or uint8. Got {_describe(image)}.")
        elif isinstance(image, Image.Image):
            self.kind, self.dtype = "pil", None
            self.mode = image.mode
            w, h = image.size
            c = 1 if image.mode in ("1", "L", "LA", "I", "I;16", "F") else 3  # P, RGBA, CMYK… are colour
        else:
            raise DataError(f"real images should be tensors, numpy arrays or PIL images. Got {_describe(image)}.")
        self.shape = (int(c), int(h), int(w))

    def take(self, pool: torch.Tensor, rows: list[int]) -> list:
        """Images ``pool[rows]`` in the real kind. Tensors are gathered and converted in one kernel
        per chunk of under 32768 values, below torch's parallel grain size: work per batch is small,
        and in a busy main process (workers=0) parallel regions of tiny ops cost more than they save."""
        if self.kind != "tensor" or not self.dtype.is_floating_point:
            return self.convert(pool[torch.as_tensor(rows)])
        per = max(1, _SERIAL_NUMEL // max(1, pool[0].numel()))
        out: list = []
        for chunk in torch.as_tensor(rows).split(per):
            x = pool.index_select(0, chunk)
            # true division turns uint8 into float32 in one pass; other float dtypes need a cast
            x = torch.div(x, 255) if self.dtype == torch.float32 else x.to(self.dtype).div_(255)
            out += (x.squeeze(1) if self.squeeze else x).unbind(0)
        return out

    def convert(self, x: torch.Tensor) -> list:
        """uint8 N×C×H×W (CPU) -> list of N images in the real kind."""
        if self.kind == "tensor":
            x = x.to(self.dtype).div_(255) if self.dtype.is_floating_point else x
            return list((x.squeeze(1) if self.squeeze else x).unbind(0))
        if self.kind == "numpy":
            a = x.permute(0, 2, 3, 1).numpy()
            a = a[..., 0] if self.squeeze else a
            if np.issubdtype(self.dtype, np.floating):
                a = a.astype(self.dtype) / self.dtype.type(255)
            return list(np.ascontiguousarray(a))
        from PIL import Image

        a = x.permute(0, 2, 3, 1).numpy()
        base = "L" if a.shape[-1] == 1 else "RGB"
        out = [Image.fromarray(im[..., 0] if base == "L" else im, mode=base) for im in a]
        return out if self.mode == base else [im.convert(self.mode) for im in out]


def _same_format(a, b) -> bool:
    from PIL import Image

    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.dtype == b.dtype and a.shape == b.shape
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape
    if isinstance(a, Image.Image) and isinstance(b, Image.Image):
        return a.mode == b.mode and a.size == b.size
    return type(a) is type(b)
