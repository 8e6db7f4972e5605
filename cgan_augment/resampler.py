"""CGANOverSampler: a class-conditional GAN as an imbalanced-learn over-sampler (``fit_resample``).

The estimator follows scikit-learn's conventions on :class:`sklearn.base.BaseEstimator` (``__init__``
only stores its arguments; ``get_params``/``set_params``; validation in ``fit``) and imbalanced-learn's
sampler contract (``fit_resample(X, y) -> (X_res, y_res)``, ``sampling_strategy_``), so it drops into
``imblearn.pipeline.Pipeline`` next to ``SMOTE``. imbalanced-learn itself is not needed to use it.

Estimator checks (``tests/test_resampler.py``): scikit-learn's ``check_estimator`` passes in full,
and imbalanced-learn's sampler checks pass except five that do not apply: sparse, pandas-sparse,
string and NaN input (pixels are dense finite numbers) and ``sample_indices_`` (generated rows are
new, not copies; that check also reads imbalanced-learn's own tag class, which an estimator that does
not import imbalanced-learn cannot give). The generic checks fit on 2-D data of many widths with no
image shape, so they run on a test subclass that reads such a row as a 1×F image; everything else
is this class's own behaviour.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import fields, replace
from os import PathLike
from typing import Callable

import numpy as np
import torch
from sklearn.base import BaseEstimator, OneToOneFeatureMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_array, check_consistent_length, check_is_fitted, column_or_1d

from .data.arrays import ArrayImages
from .errors import CGANAugmentError, ConfigError, DataError
from .generators.model_file import load_generator
from .generators.networks import Generator
from .mixing.strategy import _is_int, _plain, resolve_sampling_strategy
from .train import RunSettings, fit_generator
from .train.families import families, family, family_of

__all__ = ["CGANOverSampler"]
_OWN_TRAIN_PARAMS = ("family", "steps", "batch_size", "width", "seed")


# ----------------------------------------------------------------------------- parameters


def _none_or(check: Callable) -> Callable:
    return lambda v: v is None or check(v)


def _shape_ok(v) -> bool:
    return isinstance(v, (tuple, list)) and len(v) in (2, 3) and all(_is_int(s) and s > 0 for s in v)


def _is_recipe(v) -> bool:
    try:
        family_of(v)
    except CGANAugmentError:
        return False
    return True


def _range_ok(v) -> bool:
    return (isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(s, numbers.Real) and not isinstance(s, bool)
                                                                  and math.isfinite(s) for s in v) and v[0] < v[1])


# Accepted values, declared as data (imbalanced-learn's _parameter_constraints, without sklearn's private API).
_CONSTRAINTS = {
    "image_shape": (_none_or(_shape_ok), "a tuple (H, W) or (H, W, C) of positive ints, or None"),
    "value_range": (_none_or(_range_ok), "a pair (low, high) of finite numbers with low < high, or None"),
    "model": (_none_or(lambda v: isinstance(v, (str, PathLike, Generator))),
              "the path of a model.safetensors, a cgan_augment Generator, or None"),
    "family": (_none_or(lambda v: isinstance(v, str) and v in families()), "the name of a generator family (deform, dcgan, mlp, "
               "or a registered one) or None"),
    "config": (_none_or(lambda v: _is_recipe(v)), "a generator family's recipe (TrainConfig, DeformConfig, ...) or None"),
    "steps": (_none_or(lambda v: _is_int(v) and v >= 1), "an int in the range [1, inf) or None"),
    "batch_size": (_none_or(lambda v: _is_int(v) and v >= 1), "an int in the range [1, inf) or None"),
    "width": (_none_or(lambda v: _is_int(v) and v >= 1), "an int in the range [1, inf) or None"),
    "train_options": (_none_or(lambda v: isinstance(v, Mapping)), "a dict of the family's recipe settings or None"),
    "device": (lambda v: isinstance(v, (str, torch.device)), "'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device"),
    "random_state": (lambda v: v is None or _is_int(v) or isinstance(v, np.random.RandomState),
                     "an int, a numpy RandomState, or None"),
}


# ----------------------------------------------------------------------------- the estimator


class CGANOverSampler(OneToOneFeatureMixin, BaseEstimator):
    """Over-sample the rare classes of an image dataset with a class-conditional GAN.

    ``fit_resample(X, y)`` fits a generator on ``(X, y)`` (by default a DCGAN with
    :class:`cgan_augment.TrainConfig`'s defaults; ``family``, ``steps``, ``batch_size``, ``width``
    and ``train_options``, or a whole recipe ``config`` of any family, change it), or loads
    ``model``, then returns ``X`` and ``y`` with the generated rows appended after the real ones,
    grouped by class in class order. The default stays a GAN, not ``fit``'s default ``deform``:
    deform learns its warps from classes of 40 or more images (``DeformConfig.min_class_size``),
    which small arrays (and scikit-learn's estimator checks) do not have.

    Args:
        sampling_strategy: which classes get how many generated rows; imbalanced-learn's forms:
            ``"auto"``, ``"not majority"``, ``"all"``, ``"minority"``, ``"not minority"``, a float
            in (0, 1], a dict ``{class: wanted_total}`` or a callable ``y -> dict``
            (see :func:`cgan_augment.mixing.strategy.resolve_sampling_strategy` for how each resolves).
        image_shape: how to read a row of 2-D ``X``: ``(H, W)`` or ``(H, W, C)``, rows flattened in
            C order (channels last). Required for 2-D ``X``; for 3-D (N×H×W) or 4-D (N×H×W×C)
            ``X`` it may be left out, or must match.
        value_range: ``(low, high)``: the pixel values that map to black and white. Default: the
            smallest and largest value of ``X``. Generated rows lie in this range.
        model: a ``model.safetensors`` (or a :class:`Generator`) to reuse instead of fitting; it
            must know every class that gets rows (by ``str(label)``) and make images of ``X``'s size.
        family: the generator family (``"dcgan"``, ``"mlp"``, ``"deform"`` or a registered one;
            ``None``: dcgan). steps, batch_size, width: settings of the GAN families (``None``: the
            recipe's default). train_options: any other settings of the family's recipe (``lr``,
            ``diffaugment``, ... for a GAN; ``temperature``, ``pairs``, ... for deform).
        config: instead of those, a whole recipe of any family (:class:`~cgan_augment.TrainConfig`,
            :class:`~cgan_augment.DeformConfig`, ...); its ``seed`` is replaced by one drawn from
            ``random_state``.
        device: where to fit and sample: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``...
        random_state: seed of training and sampling (int), a RandomState, or None (fresh each call).
            The same int gives the same rows on CPU.

    Attributes:
        sampling_strategy_: ``{class: n_to_add}``, classes as the labels of ``y``.
        generator_: the fitted (or loaded) :class:`Generator`, on ``device``; its classes are
            ``str(label)``. Save it with ``save_generator(g, path, g.metadata)``.
        classes_: the labels of ``y``, sorted. image_shape_: ``(H, W, C)``.
        value_range_: ``(low, high)`` used. n_features_in_: columns of 2-D ``X`` (2-D input only).

    Images narrower than 8 pixels or not square are padded (bottom, right) to a square of even side
    at least 8 for the generator, and generated images are cropped back.
    """

    _estimator_type = "sampler"  # what imblearn.base.is_sampler looks for

    def __init__(self, sampling_strategy="auto", *, image_shape=None, value_range=None, model=None, family=None,
                 steps=None, batch_size=None, width=None, train_options=None, config=None, device="auto", random_state=None):
        self.sampling_strategy = sampling_strategy
        self.image_shape = image_shape
        self.value_range = value_range
        self.model = model
        self.family = family
        self.steps = steps
        self.batch_size = batch_size
        self.width = width
        self.train_options = train_options
        self.config = config
        self.device = device
        self.random_state = random_state

    # ------------------------------------------------------------------ public API

    def fit(self, X, y) -> "CGANOverSampler":
        """Check ``X`` and ``y``, resolve ``sampling_strategy_`` and fit (or load) ``generator_``.

        ``fit_resample`` is what pipelines call; ``fit`` alone is for keeping the generator.
        """
        self._fit(X, y)
        return self

    def fit_resample(self, X, y):
        """Fit, then return ``(X_res, y_res)``: ``X`` then the generated rows, in ``X``'s layout,
        container and dtype; ``y`` then their labels, with ``y``'s values and dtype.

        Raises:
            ConfigError: a parameter outside its accepted values. DataError: ``X`` or ``y``
                unusable (shape, dtype, non-finite values, a continuous or one-class target).
            ModelFileError: ``model`` is not a valid model file.
        """
        prepared = self._fit(X, y)
        return self._resample(*prepared)

    # ------------------------------------------------------------------ steps

    def _fit(self, X, y):
        self._validate_params()
        X_in, y_in = X, y
        y, one_vs_all = self._check_y(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        counts = dict(zip(self.classes_, np.bincount(y_index).tolist()))
        if len(counts) < 2:
            raise DataError(f"The target 'y' needs to have more than 1 class. Got {len(counts)} class instead.")
        X = self._check_X(X, y)
        names = [str(c) for c in self.classes_]
        if len(set(names)) != len(names):
            raise DataError(f"The labels of y should stay distinct as text (the generator names classes by str(label)). "
                            f"Got {[_plain(c) for c in self.classes_]}.")
        self.sampling_strategy_ = resolve_sampling_strategy(counts, self.sampling_strategy, y)
        rng = check_random_state(self.random_state)
        train_seed, self._sample_seed = (int(s) for s in rng.randint(0, 2**31 - 1, size=2))

        images = self._to_images(X)
        if self.model is not None:
            self.generator_ = self._load_model(names)
        else:
            self.generator_ = self._train(images, y_index, names, train_seed)
        return X_in, y_in, X, y, one_vs_all

    def _validate_params(self) -> None:
        for name, (ok, accepted) in _CONSTRAINTS.items():
            value = getattr(self, name)
            if not ok(value):
                raise ConfigError(f"The '{name}' parameter of {type(self).__name__} must be {accepted}. "
                                  f"Got {value!r} instead.")
        clash = sorted(set(self.train_options or {}) & set(_OWN_TRAIN_PARAMS))
        if clash:
            raise ConfigError(f"'train_options' should not set {clash}: use the {type(self).__name__} parameters "
                              "family, steps, batch_size, width and random_state for these.")
        own = [k for k in ("family", "steps", "batch_size", "width", "train_options") if getattr(self, k) is not None]
        if self.config is not None and own:
            raise ConfigError(f"give either 'config' (a whole recipe) or {own}, not both.")
        self._recipe(0)  # every setting checked before any work

    def _recipe(self, seed: int):
        """The recipe to fit, with ``seed``: ``config``, or the family's built from the parameters."""
        if self.config is not None:
            has_seed = "seed" in {f.name for f in fields(self.config)}
            return replace(self.config, seed=seed) if has_seed else self.config
        entry = family(self.family or "dcgan")
        known = {f.name for f in fields(entry.config)}
        settings = dict(self.train_options or {}, seed=seed,
                        **{k: getattr(self, k) for k in ("steps", "batch_size", "width") if getattr(self, k) is not None})
        if "family" in known:
            settings["family"] = entry.name
        unknown = sorted(set(settings) - known)
        if unknown:
            where = "'train_options' names" if set(unknown) & set(self.train_options or {}) else "the parameters set"
            raise ConfigError(f"{where} {unknown}, which are not settings of the {entry.name} family's "
                              f"{entry.config.__name__}; its settings are {sorted(known - set(_OWN_TRAIN_PARAMS))}.")
        return entry.config(**settings)

    @staticmethod
    def _check_y(y) -> tuple[np.ndarray, bool]:
        """(1-D labels, whether ``y`` came one-hot encoded, as imbalanced-learn accepts)."""
        check_classification_targets(y)
        if type_of_target(y) == "multilabel-indicator":
            y = np.asarray(y)
            if np.any(y.sum(axis=1) != 1):
                raise DataError("y is multilabel: CGANOverSampler accepts binary, multiclass and one-hot "
                                "encoded multiclass targets. Multilabel and multioutput targets are not supported.")
            return y.argmax(axis=1), True
        return column_or_1d(y, warn=False), False

    def _check_X(self, X, y) -> np.ndarray:
        columns = getattr(X, "columns", None)
        X = check_array(X, allow_nd=True, dtype="numeric", ensure_min_features=1, input_name="X")
        check_consistent_length(X, y)
        if X.ndim == 2:
            shape = self._row_shape(X)
            self.n_features_in_ = X.shape[1]
            if columns is not None and all(isinstance(c, str) for c in columns):
                self.feature_names_in_ = np.asarray(columns, dtype=object)
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif X.ndim in (3, 4):
            shape = X.shape[1:] + ((1,) if X.ndim == 3 else ())
            if self.image_shape is not None and tuple(self.image_shape) not in (X.shape[1:], shape):
                raise DataError(f"image_shape {tuple(self.image_shape)} does not match X, whose images are "
                                f"{'×'.join(map(str, X.shape[1:]))}.")
            for attr in ("n_features_in_", "feature_names_in_"):
                if hasattr(self, attr):
                    delattr(self, attr)
        else:
            raise DataError(f"X should be N×H×W, N×H×W×C (channels last), or 2-D rows with image_shape. "
                            f"Got {X.ndim} dimensions, shape {X.shape}.")
        if X.dtype.kind not in "biuf":
            raise DataError(f"X should hold real numbers (float, int or bool pixels). Got dtype {X.dtype}.")
        self.image_shape_ = tuple(int(s) for s in shape)
        lo, hi = self.value_range if self.value_range is not None else (X.min(), X.max())
        if self.value_range is not None and (X.min() < lo or X.max() > hi):
            raise DataError(f"X has values from {_plain(X.min())} to {_plain(X.max())}, outside value_range "
                            f"{tuple(self.value_range)}; widen value_range or leave it None (the range of X).")
        self.value_range_ = (float(lo), float(hi))
        return X

    def _row_shape(self, X: np.ndarray) -> tuple[int, int, int]:
        """(H, W, C) of one row of 2-D ``X``, from ``image_shape``."""
        if self.image_shape is None:
            raise DataError(f"X is 2-D ({X.shape[0]} rows of {X.shape[1]} values); pass image_shape=(H, W) or "
                            "(H, W, C) to say how each row folds into an image.")
        shape = tuple(self.image_shape) + (1,) * (3 - len(self.image_shape))
        if math.prod(shape) != X.shape[1]:
            raise DataError(f"image_shape {tuple(self.image_shape)} holds {math.prod(shape)} values but the rows of X "
                            f"have {X.shape[1]}.")
        return shape

    def _side(self) -> int:
        """Side of the square images the generator works on: ``max(H, W, 8)``, rounded up to even."""
        s = max(self.image_shape_[0], self.image_shape_[1], 8)
        return s + s % 2

    def _to_images(self, X: np.ndarray) -> torch.Tensor:
        """X -> uint8 N×C×S×S: scaled from value_range_ to 0..255, padded bottom/right to the square side."""
        h, w, c = self.image_shape_
        lo, hi = self.value_range_
        x = X.reshape(len(X), h, w, c).astype(np.float32)  # 8-bit pixels come out; float32 is exact enough
        x = np.rint((x - lo) / (hi - lo if hi > lo else 1.0) * 255).clip(0, 255).astype(np.uint8)
        s = self._side()
        x = np.pad(x, ((0, 0), (0, s - h), (0, s - w), (0, 0)))
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

    def _train(self, images: torch.Tensor, y_index: np.ndarray, names: list[str], seed: int) -> Generator:
        data = ArrayImages(images, y_index.tolist(), names)
        return fit_generator(data, self._recipe(seed), None, RunSettings(device=str(self.device)),
                             data_info={"source": type(self).__name__, "image_shape": list(self.image_shape_)})

    def _load_model(self, names: list[str]) -> Generator:
        g = self.model if isinstance(self.model, Generator) else load_generator(self.model, self.device)
        where = f"model {self.model}" if not isinstance(self.model, Generator) else "the model Generator"
        c, s = self.image_shape_[2], self._side()
        if (g.channels, g.image_size) != (c, s):
            raise DataError(f"{where} makes {g.channels}×{g.image_size}×{g.image_size} images, but X's images need "
                            f"{c}×{s}×{s}; fit a model on images of X's shape, or leave model=None to fit one here.")
        missing = [n for c_, n in zip(self.classes_, names) if self.sampling_strategy_.get(c_, 0) and n not in g.classes]
        if missing:
            raise DataError(f"{where} does not know class {missing[0]!r} of y (its classes: {g.classes}); "
                            "classes are matched by str(label).")
        return g

    def _resample(self, X_in, y_in, X: np.ndarray, y: np.ndarray, one_vs_all: bool):
        check_is_fitted(self, "generator_")
        g, (h, w, _), (lo, hi) = self.generator_, self.image_shape_, self.value_range_
        first = {k: int(np.flatnonzero(y == k)[0]) for k in self.sampling_strategy_}
        labels = [g.classes.index(str(k)) for k, n in self.sampling_strategy_.items() for _ in range(n)]
        x_new = g.sample(torch.as_tensor(labels, dtype=torch.int64), seed=self._sample_seed)
        x_new = x_new[:, :, :h, :w].permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)  # (n, H, W, C) in [0, 1]
        x_new = lo + x_new * (hi - lo)
        if X.dtype.kind in "biu":
            x_new = np.rint(x_new).clip(lo, hi)
        X_res = np.concatenate([X, x_new.astype(X.dtype).reshape((len(x_new),) + X.shape[1:])])
        rows = [first[k] for k, n in self.sampling_strategy_.items() for _ in range(n)]
        y_res = np.concatenate([y, y[np.asarray(rows, dtype=np.intp)]])
        if one_vs_all:
            y_res = (y_res[:, None] == self.classes_[None, :]).astype(np.asarray(y_in).dtype)
        return _like(X_res, X_in), _like(y_res, y_in)

    # ------------------------------------------------------------------ sklearn tags

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.three_d_array = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"requires_y": True, "X_types": ["2darray", "3darray"]}


def _like(array: np.ndarray, original):
    """``array`` in the container of ``original``: a list, a pandas DataFrame or Series (same
    columns, dtypes and name), else the ndarray itself."""
    kind = type(original).__name__
    if kind == "list":
        return array.tolist()
    if kind in ("DataFrame", "Series"):
        import pandas as pd

        if kind == "Series":
            return pd.Series(array, dtype=original.dtype, name=original.name)
        if array.ndim == 1:
            array = array[:, None]
        return pd.DataFrame(array, columns=original.columns).astype(original.dtypes)
    return array
