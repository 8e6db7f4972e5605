"""Property-based tests of every reader of untrusted input: the safetensors metadata reader, the
.npz reader, class-folder discovery and the sampling-strategy parser. Whatever they are given,
each returns a valid result or raises one of our one-line errors (a CGANAugmentError), never
another exception. Examples are few and small so that the file runs in seconds."""

import io
import json
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from cgan_augment import CGANAugmentError, DataSpec, load_data, load_generator, read_metadata
from cgan_augment.generators.model_file import save_generator
from cgan_augment.generators.networks import Generator, build_generator
from cgan_augment.mixing.strategy import resolve_sampling_strategy, synthetic_plan

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _one_line(error: CGANAugmentError) -> None:
    assert str(error) and "\n" not in str(error), repr(str(error))
    event(f"refused: {type(error).__name__}")


JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)


# ----------------------------------------------------------------------------- safetensors metadata


def _valid_file() -> tuple[dict, bytes]:
    """(the header, the body) of a small valid model file."""
    g = build_generator("mlp", 2, 8, 1, z_dim=4, width=8)
    g.classes = ["a", "b"]
    with tempfile.TemporaryDirectory() as tmp:
        save_generator(g, Path(tmp) / "m.safetensors", {})
        raw = (Path(tmp) / "m.safetensors").read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


HEADER, BODY = _valid_file()
META = json.loads(HEADER["__metadata__"]["cgan_augment"])


def _file(header: dict, body: bytes) -> bytes:
    data = json.dumps(header).encode()
    return struct.pack("<Q", len(data)) + data + body


forged_meta = st.one_of(
    JSON,  # anything at all
    st.builds(lambda names: {**META, "classes": names}, st.lists(st.text(max_size=6), min_size=2, max_size=2)),  # any names
    st.builds(lambda k, v: {**META, k: v}, st.sampled_from(sorted(META)), JSON),  # one field replaced
    st.builds(lambda k, v: {**META, "arch": {**META["arch"], k: v}}, st.sampled_from(sorted(META["arch"])), JSON),
    st.builds(lambda k: {m: v for m, v in META.items() if m != k}, st.sampled_from(sorted(META))),  # one field missing
)
model_files = st.one_of(
    st.binary(max_size=64), st.just(_file(HEADER, BODY)),
    st.builds(lambda raw, cut: raw[:cut], st.just(_file(HEADER, BODY)), st.integers(0, len(_file(HEADER, BODY)))),
    st.builds(lambda meta: _file({**HEADER, "__metadata__": {"cgan_augment": json.dumps(meta)}}, BODY), forged_meta),
    st.builds(lambda text: _file({**HEADER, "__metadata__": {"cgan_augment": text}}, BODY), st.text(max_size=20)),
)


@FAST
@given(model_files)
@example(_file({**HEADER, "__metadata__": {"cgan_augment": json.dumps({**META, "arch": {**META["arch"], "family": []}})}}, BODY))
@example(_file({**HEADER, "__metadata__": {"cgan_augment": json.dumps({**META, "classes": ["a", "a"]})}}, BODY))
def test_the_model_file_reader_returns_a_model_or_one_line(raw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.safetensors"
        path.write_bytes(raw)
        try:
            meta = read_metadata(path)
            g = load_generator(path, device="cpu")
        except CGANAugmentError as e:
            _one_line(e)
            return
    assert isinstance(meta, dict) and isinstance(g, Generator) and len(g.classes) == g.num_classes


# ----------------------------------------------------------------------------- .npz


small_arrays = st.builds(
    lambda dtype, shape, seed: (np.random.default_rng(seed).random(shape) * 300 - 20).astype(dtype),
    st.sampled_from(["uint8", "float32", "float64", "int64", "int8", "bool", "uint16", "complex64"]),
    st.lists(st.integers(0, 5), max_size=4).map(tuple), st.integers(0, 2**32 - 1))
class_names = st.one_of(st.lists(st.text(max_size=6), max_size=5).map(np.array),
                        st.lists(st.integers(-3, 9), max_size=5).map(np.array), small_arrays)


usable_npz = st.integers(1, 5).flatmap(lambda n: st.fixed_dictionaries({
    "x": st.sampled_from(["uint8", "float32"]).map(
        lambda d: (np.random.default_rng(n).random((n, 5, 5)) * (255 if d == "uint8" else 1)).astype(d)),
    "y": st.integers(1, n).map(lambda k: np.arange(n) % k)}))


@FAST
@given(st.one_of(st.dictionaries(st.sampled_from(["x", "y", "classes", "other"]), st.one_of(small_arrays, class_names), max_size=4),
                 usable_npz), st.booleans())
@example({"x": np.array(171, dtype=np.uint8), "y": np.array([])}, False)  # found by hypothesis: TypeError before
@example({"x": np.zeros((2, 4, 4), np.uint8), "y": np.array([0, 1]), "classes": np.array(["a", "a"])}, False)
def test_the_npz_reader_returns_images_or_one_line(arrays, skip_bad):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.npz"
        np.savez(path, **arrays)
        try:
            data = load_data(DataSpec(str(path), skip_bad=skip_bad)).train
        except CGANAugmentError as e:
            _one_line(e)
            return
    assert len(data) == len(data.targets) > 0 and all(0 <= t < len(data.classes) for t in data.targets)
    x, y = data[0]
    assert x.dtype == torch.float32 and 0 <= float(x.min()) and float(x.max()) <= 1 and x.shape[0] == data.channels


@FAST
@given(st.binary(max_size=40))
def test_a_file_that_is_not_an_npz_is_one_line(raw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.npz"
        path.write_bytes(raw)
        with pytest.raises(CGANAugmentError) as info:
            load_data(DataSpec(str(path)))
        _one_line(info.value)


# ----------------------------------------------------------------------------- class folders


def _png(side: int, mode: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, (side, side), color=None).save(buf, format="PNG")
    return buf.getvalue()


names = st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1, max_size=8).filter(
    lambda n: n not in (".", "..") and len(n.encode()) < 100)
files = st.tuples(names, st.sampled_from([".png", ".PNG", ".jpg", ".txt", ""]),
                  st.sampled_from(["png", "rgb", "empty", "garbage"]))
good = st.tuples(names, st.sampled_from([".png", ".PNG"]), st.sampled_from(["png", "rgb"]))
trees = st.one_of(st.dictionaries(names, st.lists(files, max_size=3), max_size=4),
                  st.dictionaries(names, st.lists(good, min_size=1, max_size=2), min_size=1, max_size=3))  # usable ones too


@FAST
@given(trees, st.booleans())
@example({"\n": []}, False)  # found by hypothesis: the newline split the "one-line" error
def test_class_folder_discovery_returns_classes_or_one_line(tree, skip_bad):
    content = {"png": _png(4, "L"), "rgb": _png(6, "RGB"), "empty": b"", "garbage": b"\x89PNG not really"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        root.mkdir()
        for folder, entries in tree.items():
            (root / folder).mkdir(exist_ok=True)
            for stem, ext, kind in entries:
                (root / folder / (stem + ext)).write_bytes(content[kind])
        try:
            data = load_data(DataSpec(str(root), skip_bad=skip_bad)).train
            first = data[0]
        except CGANAugmentError as e:
            _one_line(e)
            return
        assert sorted(data.classes) == sorted(os.listdir(root)) and len(data) > 0
        assert first[0].shape == (data.channels, data.image_size, data.image_size)


# ----------------------------------------------------------------------------- sampling strategies


counts = st.dictionaries(st.text(max_size=4), st.integers(0, 60), max_size=5)
strategies = st.one_of(
    st.text(max_size=12), st.sampled_from(["auto", "all", "balance", "minority", "not minority", "not majority"]),
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5), st.booleans(), st.none(),
    st.dictionaries(st.one_of(st.text(max_size=4), st.integers(-2, 6)), st.one_of(st.integers(-5, 100), st.floats(), st.text(max_size=3)), max_size=4),
    st.lists(st.integers(), max_size=3),
    st.builds(lambda d: (lambda y: d), st.one_of(JSON, st.dictionaries(st.text(max_size=4), st.integers(0, 100), max_size=4))),
)


@FAST
@given(counts, strategies, st.integers(0, 5))
def test_the_sampling_strategy_parser_returns_counts_to_add_or_one_line(counts, strategy, extra):
    if counts:  # a dict of wanted totals at or above the counts is always accepted
        up = {c: n + extra for c, n in counts.items()}
        assert resolve_sampling_strategy(counts, up) == {c: extra for c in counts}
    try:
        added = resolve_sampling_strategy(counts, strategy)
    except CGANAugmentError as e:
        _one_line(e)
    else:
        assert set(added) <= set(counts) and all(isinstance(n, int) and n >= 0 for n in added.values())
    try:
        plan = synthetic_plan(list(counts.values()), strategy, list(counts))
    except CGANAugmentError as e:
        _one_line(e)
    else:
        assert all(p["total"] == p["real"] + p["synthetic"] and p["synthetic"] >= 0 for p in plan.values())
