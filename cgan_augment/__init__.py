"""cgan-augment: rebalance imbalanced image classification datasets with a class-conditional GAN."""

__version__ = "0.1.0"

from .checkpoint import load_generator, read_metadata, save_generator
from .data import ArrayImages, DataSpec, ImageFolderImages, LabeledSubset, LoadedData, class_counts, load_data
from .errors import (CGANAugmentError, ConfigError, DataError, ModelFileError, OutputDirError,
                     TrainingDiverged)
from .models import Generator
from .resampler import CGANOverSampler
from .report import ReportConfig, check_model_split, make_report, run_demo, run_report
from .synthetic import SyntheticDataset, format_plan, synthetic_plan
from .train import TrainConfig, TrainingInterrupted, resolve_device, train_generator

__all__ = [
    "__version__",
    "DataSpec", "LoadedData", "load_data", "class_counts", "ImageFolderImages", "ArrayImages", "LabeledSubset",
    "TrainConfig", "train_generator", "resolve_device", "TrainingInterrupted",
    "Generator", "load_generator", "save_generator", "read_metadata",
    "SyntheticDataset", "synthetic_plan", "format_plan",
    "CGANOverSampler",
    "ReportConfig", "run_report", "make_report", "run_demo", "check_model_split",
    "CGANAugmentError", "DataError", "ModelFileError", "ConfigError", "OutputDirError", "TrainingDiverged",
]
