"""How generated images meet real ones: sampling strategies in imbalanced-learn's forms
(``strategy``: :func:`synthetic_plan`), :class:`SyntheticDataset`, the class-balanced sampler and the
on-device batch mixer (``samplers``), :class:`Augmentation` (settings without torch; its batched ops
are in :mod:`cgan_augment._util.warps`), and the rebalanced ImageFolder writer (``export``).
"""

from .._util.lazy import lazy_exports as _lazy_exports

_EXPORTS = {"synthetic_plan": "strategy", "format_plan": "strategy", "SyntheticDataset": "synthetic",
            "ClassBalancedSampler": "samplers", "BatchMixer": "samplers", "by_class_size": "samplers",
            "Augmentation": "augmentation", "write_image_folder": "export"}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = _lazy_exports(__name__, globals(), _EXPORTS)
