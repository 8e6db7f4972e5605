"""cgan-augment: rebalance imbalanced image classification datasets with a class-conditional GAN."""

from importlib import import_module as _import_module

from ._version import __version__

# Public names -> the module that defines them. They are imported on first use (PEP 562), so that
# ``import cgan_augment`` and the command line's --help stay light: torch loads only when needed.
_EXPORTS = {
    "load_generator": "checkpoint", "read_metadata": "checkpoint", "save_generator": "checkpoint",
    "ArrayImages": "data", "ImageFolderImages": "data", "LabeledSubset": "data", "LoadedData": "data", "class_counts": "data", "load_data": "data",
    "DataSpec": "dataspec",
    "resolve_device": "devices",
    "CGANAugmentError": "errors", "ConfigError": "errors", "DataError": "errors", "DeviceError": "errors", "ModelFileError": "errors", "OutputDirError": "errors", "TrainingCollapsed": "errors", "TrainingDiverged": "errors", "TrainingInterrupted": "errors", "TrainingWarning": "errors",
    "Generator": "models",
    "Augmentation": "transforms",
    "check_model_split": "pipeline", "report_from_spec": "pipeline", "run_demo": "pipeline",
    "ReportConfig": "report", "run_report": "report",
    "CGANOverSampler": "resampler",
    "format_plan": "plan", "synthetic_plan": "plan",
    "BatchMixer": "sampling", "ClassBalancedSampler": "sampling", "by_class_size": "sampling",
    "SyntheticDataset": "synthetic",
    "RunSettings": "train", "TrainConfig": "train", "train_generator": "train",
    "latent_grid": "walks", "latent_walk": "walks", "write_walk": "walks",
}

__all__ = [
    "__version__",
    "DataSpec", "LoadedData", "load_data", "class_counts", "ImageFolderImages", "ArrayImages", "LabeledSubset",
    "TrainConfig", "RunSettings", "train_generator", "resolve_device", "TrainingInterrupted",
    "Generator", "load_generator", "save_generator", "read_metadata", "latent_walk", "latent_grid", "write_walk",
    "SyntheticDataset", "synthetic_plan", "format_plan", "ClassBalancedSampler", "BatchMixer", "by_class_size",
    "Augmentation",
    "CGANOverSampler",
    "ReportConfig", "run_report", "report_from_spec", "run_demo", "check_model_split",
    "CGANAugmentError", "DataError", "ModelFileError", "ConfigError", "DeviceError", "OutputDirError", "TrainingDiverged",
    "TrainingCollapsed", "TrainingWarning",
]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(_import_module(f".{_EXPORTS[name]}", __name__), name)
    else:
        try:
            value = _import_module(f".{name}", __name__)  # a submodule, e.g. cgan_augment.report
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
