"""Labelled image data: :class:`DataSpec` (where the data comes from and how it is prepared, no
torch), :func:`load_data`, torchvision-style class folders, in-memory arrays and the built-in data
sets, and the labelled subsets every reader shares (class counts, long-tailed draws).

Modules, lowest first: ``spec``, ``subsets``, ``folders``, ``arrays``, ``load``.
"""

from .._util.lazy import lazy_exports as _lazy_exports
from .spec import DataSpec

_EXPORTS = {"LoadedData": "load", "load_data": "load", "ImageFolderImages": "folders", "ArrayImages": "arrays",
            "LabeledSubset": "subsets", "class_counts": "subsets", "long_tailed_indices": "subsets"}

__all__ = ["DataSpec", "load_data", "LoadedData", "ImageFolderImages", "ArrayImages", "LabeledSubset", "class_counts",
           "long_tailed_indices"]

__getattr__, __dir__ = _lazy_exports(__name__, globals(), _EXPORTS)
