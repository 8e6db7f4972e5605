"""cgan-augment: rebalance imbalanced image classification datasets with a class-conditional GAN.

The public API is ``__all__``: data (:class:`DataSpec`, :func:`load_data`), fitting
(:class:`TrainConfig`, :class:`RunSettings`, :func:`train_generator`), the model
(:class:`Generator`, :func:`load_generator`), using it (:class:`SyntheticDataset`,
:func:`synthetic_plan`, :class:`ClassBalancedSampler`, :class:`BatchMixer`, :class:`Augmentation`,
:class:`CGANOverSampler`) and measuring it
(:class:`ReportConfig`, :func:`run_report` on datasets, :func:`report_from_spec` from a
:class:`DataSpec` and a model file, :func:`run_demo`). Every error a user can fix is a
:class:`CGANAugmentError` (the specific types are in :mod:`cgan_augment.errors`).

Modules, lowest first (each imports only those before it): errors, constraints, files, devices,
data, transforms, models, losses, diffaugment, quality, checkpoint, images, diagnostics, deform,
plan, formats, synthetic, sampling, export, report/, train/, pipeline, resampler.
"""

# Names imported here but not in __all__ (ArrayImages, class_counts, read_metadata, resolve_device,
# the specific errors and warnings, format_plan, by_class_size, ...) stay importable from the package for code written against
# earlier versions; their home modules are where they are documented.
from ._version import __version__
from .checkpoint import load_generator, read_metadata, save_generator
from .data import ArrayImages, DataSpec, ImageFolderImages, LabeledSubset, LoadedData, class_counts, load_data
from .devices import resolve_device
from .errors import (CGANAugmentError, ConfigError, DataError, DeviceError, ModelFileError, OutputDirError,
                     TrainingCollapsed, TrainingDiverged, TrainingInterrupted, TrainingWarning)
from .models import Generator
from .pipeline import check_model_split, report_from_spec, run_demo
from .plan import format_plan, synthetic_plan
from .report import ReportConfig, run_report
from .resampler import CGANOverSampler
from .sampling import BatchMixer, ClassBalancedSampler, by_class_size
from .synthetic import SyntheticDataset
from .train import RunSettings, TrainConfig, train_generator
from .transforms import Augmentation

__all__ = [
    "__version__",
    "DataSpec", "load_data",
    "TrainConfig", "RunSettings", "train_generator",
    "Generator", "load_generator",
    "SyntheticDataset", "synthetic_plan", "ClassBalancedSampler", "BatchMixer", "Augmentation", "CGANOverSampler",
    "ReportConfig", "run_report", "report_from_spec", "run_demo",
    "CGANAugmentError", "TrainingInterrupted",
]
