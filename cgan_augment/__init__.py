"""cgan-augment: rebalance imbalanced image classification datasets with a class-conditional GAN."""

from ._version import __version__
from .checkpoint import load_generator, read_metadata, save_generator
from .data import ArrayImages, DataSpec, ImageFolderImages, LabeledSubset, LoadedData, class_counts, load_data
from .devices import resolve_device
from .errors import (CGANAugmentError, ConfigError, DataError, DeviceError, ModelFileError, OutputDirError,
                     TrainingCollapsed, TrainingDiverged, TrainingInterrupted, TrainingWarning)
from .models import Generator
from .transforms import Augmentation
from .pipeline import check_model_split, report_from_spec, run_demo
from .report import ReportConfig, run_report
from .resampler import CGANOverSampler
from .plan import format_plan, synthetic_plan
from .sampling import BatchMixer, ClassBalancedSampler, by_class_size
from .synthetic import SyntheticDataset
from .train import RunSettings, TrainConfig, train_generator
from .walks import latent_grid, latent_walk, write_walk

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
