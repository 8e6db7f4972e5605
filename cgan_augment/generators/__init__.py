"""Class-conditional generators: the :class:`Generator` base (``sample``, ``decode``), the GAN
families' networks and their discriminators (``networks``), the deform family (learned warps of a
class's own images, ``deform``), model files (safetensors + JSON metadata, ``model_file``) and
latent walks (``walks``). Nothing here knows how a GAN is trained: that is :mod:`cgan_augment.train`.
"""

from .._util.lazy import lazy_exports as _lazy_exports

_EXPORTS = {"Generator": "networks", "build_generator": "networks", "DeformConfig": "deform", "fit_deform": "deform",
            "load_generator": "model_file", "save_generator": "model_file", "read_metadata": "model_file",
            "latent_walk": "walks", "latent_grid": "walks", "write_walk": "walks"}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = _lazy_exports(__name__, globals(), _EXPORTS)
