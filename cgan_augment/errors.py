"""Exceptions for problems a user can fix; ``str(error)`` is the one line the CLI prints."""


class CGANAugmentError(Exception):
    """Base class: a problem with the user's input, files or settings, not a bug.

    ``cli_message``, when given, is the same line for the command line, where the fix is a flag
    (``--resize``) rather than an argument (``resize=True``); the CLI prints it instead.
    """

    def __init__(self, message: str = "", *, cli_message: str = ""):
        super().__init__(message)
        self.cli_message = cli_message or message


class DataError(CGANAugmentError, ValueError):
    """A dataset that cannot be read or used: bad files, bad layout, bad labels."""


class ModelFileError(CGANAugmentError, ValueError):
    """A model or checkpoint file that is not a valid cgan-augment safetensors file."""


class ConfigError(CGANAugmentError, ValueError):
    """A setting outside the values it accepts."""


class DeviceError(ConfigError):
    """A device that is unknown or not available on this machine (e.g. ``cuda`` without CUDA)."""


class OutputDirError(CGANAugmentError, RuntimeError):
    """An output folder that is locked by another run, read-only, or would lose a good model."""


class TrainingDiverged(CGANAugmentError, RuntimeError):
    """Training produced non-finite losses; the last good files on disk are kept."""


class TrainingInterrupted(Exception):
    """Training stopped on request (``should_stop``; the CLI sets it from SIGINT/SIGTERM) after a
    checkpoint was written; ``step`` is where it stopped. Not a user error: the CLI exits 130."""

    def __init__(self, step: int, out=None, reason: str = ""):
        super().__init__((f"{reason}: " if reason else "") + f"interrupted at step {step}"
                         + (f"; checkpoint saved in {out}, continue with --resume" if out else ""))
        self.step = step


class TrainingCollapsed(CGANAugmentError, RuntimeError):
    """``strict`` training stopped at a collapse or divergence warning; the files of that step are kept."""


class CGANAugmentWarning(UserWarning):
    """Something the user should look at, though the work went on; the CLI prints it as ``warning: ...``."""


class TrainingWarning(CGANAugmentWarning):
    """Training shows mode collapse or has stalled (see :func:`cgan_augment.train.diagnostics.training_warnings`)."""


class ClassifierError(ConfigError):
    """A classifier factory (``--classifier module:function``) that cannot be found or does not
    return a model taking N×C×H×W images and giving one logit per class."""


class ReportWarning(CGANAugmentWarning):
    """A report setting that is allowed but probably not meant (e.g. a prior-corrected loss with a
    class-balanced sampler, which corrects for the prior twice)."""
