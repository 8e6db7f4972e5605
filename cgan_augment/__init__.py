"""cgan-augment: rebalance imbalanced image classification datasets with a class-conditional generator.

The public API is ``__all__``: data (:class:`DataSpec`, :func:`load_data`, :func:`class_counts`),
fitting (:func:`fit_generator` with a family's recipe: :class:`DeformConfig`, the recommended
family, or :class:`TrainConfig` for the GAN families; :class:`RunSettings`; :func:`train_generator`,
the GAN loop; :func:`register_family` for a new family), the model (:class:`Generator`,
:func:`load_generator`, :func:`save_generator`, :func:`read_metadata`, latent walks), using it
(:class:`SyntheticDataset`, :func:`synthetic_plan`, :class:`ClassBalancedSampler`,
:class:`BatchMixer`, :func:`by_class_size`, :class:`Augmentation`, :class:`CGANOverSampler`) and
measuring it (:class:`ReportConfig`, :func:`run_report` on datasets, :func:`report_from_spec` from
a :class:`DataSpec` and a model file, :func:`run_demo`; your own classifier factory, and
:class:`Arm` / :func:`register_arm` for your own arms). Every error a user can fix is a
:class:`CGANAugmentError` (the specific types are in :mod:`cgan_augment.errors`).

Packages, lowest first (each imports only those before it; tests/test_layout.py holds the graph):
``errors`` (public exception types), ``_util`` (settings checks, devices, atomic files, pictures, batched
warps), ``data`` (DataSpec, load_data, class folders, arrays and built-ins, labelled subsets),
``generators`` (the Generator base, the GAN and deform families, model-file I/O, latent walks),
``train`` (the registry of families and fit_generator; the adversarial loop with its losses,
DiffAugment and training monitor), ``mixing``
(sampling strategies, SyntheticDataset, sampler and mixer, Augmentation, the ImageFolder writer),
``report`` (arms, classifiers, gains, pages, the demo and the report-from-files path), ``resampler``.
"""
from ._util.lazy import lazy_exports as _lazy_exports
from ._version import __version__

# Public names -> the module that defines them. They are imported on first use (PEP 562), so that
# ``import cgan_augment`` and the command line's --help stay light: torch loads only when needed.
_EXPORTS = {
    "load_generator": "generators.model_file", "read_metadata": "generators.model_file", "save_generator": "generators.model_file",
    "ArrayImages": "data.arrays",
    "LoadedData": "data.load", "load_data": "data.load",
    "ImageFolderImages": "data.folders",
    "LabeledSubset": "data.subsets", "class_counts": "data.subsets",
    "DataSpec": "data.spec",
    "resolve_device": "_util.devices",
    "CGANAugmentError": "errors", "ConfigError": "errors", "DataError": "errors", "DeviceError": "errors", "ModelFileError": "errors", "OutputDirError": "errors", "TrainingCollapsed": "errors", "TrainingDiverged": "errors", "TrainingInterrupted": "errors", "TrainingWarning": "errors",
    "Generator": "generators.networks",
    "Augmentation": "mixing.augmentation",
    "check_model_split": "report.from_files", "report_from_spec": "report.from_files", "run_demo": "report.demo",
    "ReportConfig": "report", "run_report": "report", "Arm": "report", "register_arm": "report",
    "CGANOverSampler": "resampler",
    "format_plan": "mixing.strategy", "synthetic_plan": "mixing.strategy",
    "BatchMixer": "mixing.samplers", "ClassBalancedSampler": "mixing.samplers", "by_class_size": "mixing.samplers",
    "SyntheticDataset": "mixing.synthetic",
    "RunSettings": "train", "TrainConfig": "train", "train_generator": "train", "fit_generator": "train",
    "register_family": "train", "DeformConfig": "generators.deform_config", "fit_deform": "generators.deform",
    "latent_grid": "generators.walks", "latent_walk": "generators.walks", "write_walk": "generators.walks",
}

# Names in _EXPORTS but not in __all__ (ArrayImages, resolve_device, the specific errors and warnings,
# format_plan, ...) stay importable from the package for code written against earlier versions; their home
# modules are where they are documented. Every name the README imports from cgan_augment is in __all__.
__all__ = [
    "__version__",
    "DataSpec", "load_data", "class_counts",
    "fit_generator", "DeformConfig", "TrainConfig", "RunSettings", "train_generator", "register_family",
    "Generator", "load_generator", "save_generator", "read_metadata", "latent_walk", "latent_grid", "write_walk",
    "SyntheticDataset", "synthetic_plan", "ClassBalancedSampler", "BatchMixer", "by_class_size", "Augmentation",
    "CGANOverSampler",
    "ReportConfig", "run_report", "report_from_spec", "run_demo", "Arm", "register_arm",
    "CGANAugmentError", "TrainingInterrupted",
]


__getattr__, __dir__ = _lazy_exports(__name__, globals(), _EXPORTS)
