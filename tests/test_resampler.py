"""CGANOverSampler: strategy forms against imbalanced-learn, layouts and dtypes, model reuse, errors,
the scikit-learn and imbalanced-learn estimator checks, a Pipeline on long-tailed digits, the README."""

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits

from cgan_augment import CGANOverSampler, ConfigError, DataError, save_generator
from cgan_augment.mixing.strategy import resolve_sampling_strategy

TINY = dict(steps=3, width=4, device="cpu")  # fits in well under a second


def long_tailed_digits(imbalance=20, seed=0):
    """load_digits made long-tailed: class k keeps round(178 · imbalance^(-k/9)) rows."""
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    keep = [rng.choice(np.flatnonzero(y == k), round(178 * imbalance ** (-k / 9)), replace=False) for k in range(10)]
    keep = np.concatenate(keep)
    return X[keep], y[keep]


@pytest.fixture(scope="module")
def small():
    """30 digits, 3 classes (12, 10, 8), 8×8 in 0..16 (float64), plus a row layout."""
    X, y = load_digits(return_X_y=True)
    idx = np.concatenate([np.flatnonzero(y == k)[:n] for k, n in ((0, 12), (1, 10), (2, 8))])
    return X[idx], y[idx]


# ----------------------------------------------------------------------------- sampling strategy

COUNTS = {0: 12, 1: 10, 2: 8}
STRATEGIES = ["auto", "minority", "not minority", "not majority", "all", {1: 15, 2: 9},
              lambda y: {k: 2 * n for k, n in Counter(y).items() if k != 0}]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s if isinstance(s, str) else type(s).__name__)
def test_strategy_resolves_as_imbalanced_learn_does(strategy, small):
    imblearn = pytest.importorskip("imblearn.over_sampling")
    X, y = small
    ours = resolve_sampling_strategy(COUNTS, strategy, y)
    theirs = imblearn.RandomOverSampler(sampling_strategy=strategy).fit(X, y).sampling_strategy_
    assert ours == dict(theirs) and list(ours) == list(theirs)


@pytest.mark.parametrize("ratio", [0.5, 0.77, 1.0])
def test_float_matches_imbalanced_learn_on_two_classes(ratio):
    imblearn = pytest.importorskip("imblearn.over_sampling")
    y = np.array(["cat"] * 40 + ["dog"] * 7)
    theirs = imblearn.RandomOverSampler(sampling_strategy=ratio).fit(np.zeros((47, 1)), y).sampling_strategy_
    assert resolve_sampling_strategy(Counter(sorted(y)), ratio, y) == dict(theirs)


def test_strategy_forms_without_imbalanced_learn():
    assert resolve_sampling_strategy(COUNTS, "auto") == {1: 2, 2: 4}
    assert resolve_sampling_strategy(COUNTS, "all") == resolve_sampling_strategy(COUNTS, "balance") == {0: 0, 1: 2, 2: 4}
    assert resolve_sampling_strategy(COUNTS, "minority") == {2: 4}
    assert resolve_sampling_strategy(COUNTS, "not minority") == {0: 0, 1: 2}
    # a float also works for several classes; a class already above floor(r × 12) = 8 gets 0
    assert resolve_sampling_strategy(COUNTS, 0.7) == {1: 0, 2: 0}
    assert resolve_sampling_strategy({"a": 100, "b": 10, "c": 50}, 0.29) == {"b": 19, "c": 0}  # 29, not 28
    assert resolve_sampling_strategy(COUNTS, {2: 8}) == {2: 0}
    # a callable gets the label of every item (built from the counts when y is not given)
    assert resolve_sampling_strategy(COUNTS, lambda y: {1: len(y)}) == {1: 20}


@pytest.mark.parametrize("strategy, message", [
    ("most", "When 'sampling_strategy' is a string, it should be one of ['auto', 'minority', 'not minority', "
             "'not majority', 'all', 'balance']. Got 'most' instead."),
    (1.5, "When 'sampling_strategy' is a float, it should be in the range (0, 1]. Got 1.5 instead."),
    (0, "When 'sampling_strategy' is a float, it should be in the range (0, 1]. Got 0 instead."),
    ({7: 20}, "Class 7 in 'sampling_strategy' is not a class of the data; the classes are [0, 1, 2]."),
    ({1: 9}, "should be at least its real count: there are 10 real items and 9 are asked"),
    ({1: 12.5}, "should be a whole number >= 0. Got 12.5 instead."),
    (lambda y: [1, 2], "When 'sampling_strategy' is a callable, it should return a dict {class: wanted_total}. Got list"),
    ([1, 2], "'sampling_strategy' should be 'auto', 'minority'"),
])
def test_strategy_errors_name_the_parameter_and_the_value(strategy, message):
    with pytest.raises(ConfigError) as e:
        resolve_sampling_strategy(COUNTS, strategy)
    assert message in str(e.value)


# ----------------------------------------------------------------------------- the estimator


def test_init_only_stores_and_params_round_trip():
    s = CGANOverSampler("minority", image_shape=(8, 8), steps=5, train_options={"lr": 1e-3}, random_state=3)
    assert s.get_params()["sampling_strategy"] == "minority" and s.get_params()["steps"] == 5
    assert not [k for k in vars(s) if k.endswith("_")]
    s.set_params(steps=7, sampling_strategy=0.5)
    assert (s.steps, s.sampling_strategy) == (7, 0.5)
    assert clone(s).get_params() == s.get_params()
    CGANOverSampler(steps=-1)  # nothing is checked before fit_resample


@pytest.mark.parametrize("layout", ["rows", "NxHxW uint8", "NxHxWxC float32"])
def test_fit_resample_keeps_layout_dtype_and_labels(layout, small):
    X, y = small
    if layout == "rows":
        kw, Xin, yin = {"image_shape": (8, 8)}, X, y
    elif layout == "NxHxW uint8":
        kw, Xin, yin = {}, (X * 15).astype(np.uint8).reshape(-1, 8, 8), np.array(["zero", "one", "two"])[y]
    else:
        kw, Xin, yin = {}, np.stack([X / 16, X / 32, 1 - X / 16], -1).astype(np.float32).reshape(-1, 8, 8, 3), y.astype(np.int32)
    s = CGANOverSampler(random_state=0, **kw, **TINY)
    X_res, y_res = s.fit_resample(Xin, yin)

    assert X_res.dtype == Xin.dtype and X_res.shape[1:] == Xin.shape[1:] and y_res.dtype == yin.dtype
    assert np.array_equal(X_res[:len(Xin)], Xin) and np.array_equal(y_res[:len(yin)], yin)  # real rows first
    new = X_res[len(Xin):]
    assert len(new) == sum(s.sampling_strategy_.values()) == 2 + 4
    assert Counter(y_res) == {k: 12 for k in np.unique(yin)}  # "auto": every class up to the majority
    assert list(y_res[len(yin):]) == [k for k, n in s.sampling_strategy_.items() for _ in range(n)]
    assert Xin.min() <= new.min() and new.max() <= Xin.max()  # in value_range_, the range of X
    assert s.image_shape_ == ((8, 8, 1) if layout != "NxHxWxC float32" else (8, 8, 3))
    assert s.generator_.classes == [str(c) for c in np.unique(yin)]
    assert not hasattr(s, "sample_indices_")  # generated rows are new, not copies of rows of X
    assert len(np.unique(new.reshape(len(new), -1), axis=0)) == len(new)


def test_same_random_state_same_rows_and_reused_model_file_gives_them_too(small, tmp_path):
    X, y = small
    a = CGANOverSampler(image_shape=(8, 8), random_state=1, **TINY)
    X_a, _ = a.fit_resample(X, y)
    X_b, _ = CGANOverSampler(image_shape=(8, 8), random_state=1, **TINY).fit_resample(X, y)
    X_c, _ = CGANOverSampler(image_shape=(8, 8), random_state=2, **TINY).fit_resample(X, y)
    assert np.array_equal(X_a, X_b) and not np.array_equal(X_a, X_c)

    path = tmp_path / "model.safetensors"
    save_generator(a.generator_, path, a.generator_.metadata)
    reuse = CGANOverSampler(image_shape=(8, 8), model=str(path), steps=10_000, random_state=1, device="cpu")
    X_r, y_r = reuse.fit_resample(X, y)  # 10,000 steps would take minutes: the file is used instead
    assert np.array_equal(X_r, X_a) and reuse.generator_.metadata["step"] == 3


def test_reused_model_must_fit_the_data(small, tmp_path):
    X, y = small
    a = CGANOverSampler(image_shape=(8, 8), random_state=0, **TINY).fit(X, y)
    with pytest.raises(DataError, match=r"makes 1×8×8 images, but X's images need 3×8×8"):
        CGANOverSampler(model=a.generator_).fit_resample(np.repeat(X.reshape(-1, 8, 8, 1), 3, -1), y)
    with pytest.raises(DataError, match=r"does not know class '7' of y \(its classes: \['0', '1', '2'\]\)"):
        CGANOverSampler(image_shape=(8, 8), model=a.generator_).fit_resample(X, np.where(y == 2, 7, y))


def test_non_square_images_are_padded_for_the_generator_and_cropped_back(small):
    X, y = small
    Xin = X.reshape(-1, 8, 8)[:, :, :5]  # 8×5
    s = CGANOverSampler(random_state=0, **TINY)
    X_res, _ = s.fit_resample(Xin, y)
    assert X_res.shape[1:] == (8, 5) and s.generator_.image_size == 8


def test_pandas_in_pandas_out_and_lists_in_lists_out(small):
    pd = pytest.importorskip("pandas")
    X, y = small
    X_df = pd.DataFrame(X.astype(np.int64), columns=[f"px{i}" for i in range(64)])
    y_s = pd.Series(np.array(["a", "b", "c"])[y], name="digit")
    s = CGANOverSampler(image_shape=(8, 8), random_state=0, **TINY)
    X_res, y_res = s.fit_resample(X_df, y_s)
    assert list(X_res.columns) == list(X_df.columns) and (X_res.dtypes == np.int64).all()
    assert y_res.name == "digit" and y_res.dtype == y_s.dtype and len(X_res) == len(y_res) == 36
    assert list(s.get_feature_names_out()) == list(X_df.columns)
    X_l, y_l = CGANOverSampler(image_shape=(8, 8), random_state=0, **TINY).fit_resample(X.tolist(), y.tolist())
    assert isinstance(X_l, list) and isinstance(y_l, list) and isinstance(y_l[-1], int)


@pytest.mark.parametrize("change, error, message", [
    (dict(X=lambda X: X), DataError, "X is 2-D (30 rows of 64 values); pass image_shape=(H, W) or (H, W, C)"),
    (dict(image_shape=(8, 7)), DataError, "image_shape (8, 7) holds 56 values but the rows of X have 64."),
    (dict(image_shape=(8, 8), X=lambda X: np.where(X == 16, np.nan, X)), ValueError, "Input X contains NaN."),
    (dict(image_shape=(8, 8), y=lambda y: y + 0.5), ValueError, "Unknown label type"),
    (dict(image_shape=(8, 8), y=lambda y: np.zeros_like(y)), DataError,
     "The target 'y' needs to have more than 1 class. Got 1 class instead."),
    (dict(image_shape=(8, 8), steps=0), ConfigError,
     "The 'steps' parameter of CGANOverSampler must be an int in the range [1, inf) or None. Got 0 instead."),
    (dict(image_shape=(8, 8), value_range=(0, 10)), DataError, "X has values from 0.0 to 16.0, outside value_range (0, 10)"),
    (dict(image_shape=(8, 8), train_options={"seed": 1}), ConfigError, "'train_options' should not set ['seed']"),
    (dict(image_shape=(8, 8), train_options={"lrate": 1}), ConfigError, "'train_options' names ['lrate'], which are not"),
    (dict(X=lambda X: X.reshape(30, 1, 8, 8)), DataError, "does not match"),
])
def test_bad_input_is_one_clear_error(change, error, message, small):
    X, y = small
    change = dict(change)
    X, y = change.pop("X", lambda X: X)(X), change.pop("y", lambda y: y)(y)
    change.setdefault("image_shape", None)
    if change["image_shape"] is None and np.ndim(X) == 4:
        change["image_shape"] = (8, 8)
    with pytest.raises(error) as e:
        CGANOverSampler(**{**TINY, **change}).fit_resample(X, y)
    assert message in str(e.value)


# ----------------------------------------------------------------------------- estimator checks


class _RowsAsStrips(CGANOverSampler):
    """For the generic checks only: their 2-D data come in many widths with no image shape, so
    each row is read as a 1×F image. Everything else is CGANOverSampler's own behaviour."""

    def _row_shape(self, X):
        return (1, X.shape[1], 1) if self.image_shape is None else super()._row_shape(X)


def test_scikit_learn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(_RowsAsStrips(random_state=0, **TINY), on_fail=None)
    failed = {r["check_name"]: str(r["exception"]) for r in results if r["status"] == "failed"}
    assert not failed
    assert sum(r["status"] == "passed" for r in results) >= 40


# imbalanced-learn's sampler checks that do not apply, and why.
IMBLEARN_NOT_APPLICABLE = {
    "check_samplers_sparse": "pixels are dense; sparse X is refused",
    "check_samplers_pandas_sparse": "pixels are dense; sparse X is refused",
    "check_samplers_string": "a generator makes numbers, not categories",
    "check_samplers_nan": "a generator cannot be trained on missing pixels",
    "check_samplers_sample_indices": "reads imbalanced-learn's own tag class, which an estimator that does not "
                                     "import imbalanced-learn cannot give; sample_indices_ is checked absent above",
}


def test_imbalanced_learn_sampler_checks():
    checks = pytest.importorskip("imblearn.utils.estimator_checks")
    names = sorted(n for n in dir(checks) if n.startswith(("check_samplers", "check_sampler_")) or n in
                   ("check_target_type", "check_dataframe_column_names_consistency"))
    assert len(names) >= 18
    ran = 0
    for name in names:
        if name not in IMBLEARN_NOT_APPLICABLE:
            getattr(checks, name)("CGANOverSampler", _RowsAsStrips(random_state=0, **TINY))
            ran += 1
    assert ran >= 13


# ----------------------------------------------------------------------------- pipelines


def test_in_an_imbalanced_learn_pipeline_on_long_tailed_digits():
    pytest.importorskip("imblearn")
    from imblearn.pipeline import Pipeline
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import train_test_split

    X, y = long_tailed_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    pipe = Pipeline([("cgan", CGANOverSampler(image_shape=(8, 8), steps=20, random_state=0, device="cpu")),
                     ("clf", LogisticRegression(max_iter=2000))])
    pipe.fit(X_train, y_train)
    counts = Counter(y_train)
    assert pipe["cgan"].sampling_strategy_ == {k: max(counts.values()) - n for k, n in sorted(counts.items()) if k != 0}
    assert pipe["clf"].n_features_in_ == 64 and len(pipe.predict(X_test)) == len(X_test)  # no resampling at predict
    # 20 steps make poor digits (the benchmark has the real figures), but far above chance (0.1)
    assert balanced_accuracy_score(y_test, pipe.predict(X_test)) > 0.6
    # the classifier after the sampler sees the balanced data: a prior-only classifier learns uniform priors
    prior = Pipeline([("cgan", CGANOverSampler(image_shape=(8, 8), random_state=0, **TINY)),
                      ("clf", DummyClassifier(strategy="prior"))]).fit(X_train, y_train)
    assert np.allclose(prior["clf"].class_prior_, 0.1)


def test_works_without_imbalanced_learn(small):
    code = ("import sys; sys.modules['imblearn'] = None\n"
            "import numpy as np; from sklearn.datasets import load_digits; from cgan_augment import CGANOverSampler\n"
            "X, y = load_digits(return_X_y=True); X, y = X[:40], (y[:40] > 6).astype(int)\n"
            "Xr, yr = CGANOverSampler(image_shape=(8, 8), steps=2, width=4, device='cpu').fit_resample(X, y)\n"
            "assert np.bincount(yr).tolist() == [max(np.bincount(y))] * 2\n"
            "assert not any(m.startswith('imblearn.') for m in sys.modules)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_readme_imbalanced_learn_example_runs_as_written(capsys):
    pytest.importorskip("imblearn")
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = re.search(r"<!-- example: imbalanced-learn .*?-->\s*```python\n(.*?)```", readme, re.S)
    assert block, "README lost its imbalanced-learn example"
    exec(compile(block.group(1), "README.md", "exec"), {})
    assert "balanced accuracy" in capsys.readouterr().out
