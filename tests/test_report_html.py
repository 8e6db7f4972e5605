"""report.html: self-contained, escaped, and rendered by real headless Chromium (title, verdict,
decoded images, no console errors, no network, fits a laptop screen and an A4 page)."""

import copy
import os
import re

import numpy as np
import pytest
from headless_chromium import Browser, find_chromium
from PIL import Image

from cgan_augment import DataSpec, ReportConfig, RunSettings, TrainConfig
from cgan_augment.report.from_files import report_from_spec
from cgan_augment.report.html import render_report_html

SPEC = DataSpec("builtin:digits", image_size=8, test_split=0.3, imbalance=10, seed=0)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A real (tiny) report: a generator fitted here, three arms, two seeds."""
    out = tmp_path_factory.mktemp("report")
    config = ReportConfig(arms=("real", "oversample", "synthetic"), seeds=(0, 1), steps=3, batch_size=16,
                          quality_samples=12, grid_samples=3)
    result = report_from_spec(SPEC, out, fit=TrainConfig(steps=2, width=8, z_dim=8, batch_size=16),
                              fit_run=RunSettings(sample_every=1), config=config, device="cpu")
    assert result["files"]["html"] == "report.html"
    return result, out, out / "report.html"


def test_page_is_self_contained_and_holds_the_report(report):
    result, out, path = report
    page = path.read_text()
    assert page.startswith("<!doctype html>") and "<title>Accuracy-gain report: builtin:digits</title>" in page
    assert result["verdict"] in page
    sources = re.findall(r'\b(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/") for s in sources), [s[:40] for s in sources]
    assert not re.search(r"https?://", page)
    for arm in ("real", "oversample", "synthetic"):
        assert f"<td>{arm}</td>" in page
    assert "Fréchet distance" in page and "torchvision" in page and "balanced accuracy" in page
    assert ">class (training images)</th>" in page  # 10 classes, 3 arms: a class per row


def test_recall_table_has_an_arm_per_row_when_arms_outnumber_classes(report):
    result, out, _ = report
    few = copy.deepcopy(result)
    few["data"]["classes"], few["data"]["train_counts"] = ["a", "b"], [5, 1]
    for entry in few["arms"].values():
        entry["per_class_recall"]["mean"] = [0.5, 0.25]
    page = render_report_html(few, out)
    assert "b<br><small>n=1</small>" in page and "class (training images)" not in page


def test_text_from_the_data_is_escaped(report):
    result, out, _ = report
    hostile = copy.deepcopy(result)
    hostile["data"]["classes"][0] = "<script>alert(1)</script>"
    hostile["data"]["source"] = 'x" onload="alert(1)'
    page = render_report_html(hostile, out)
    assert "<script>" not in page and "&lt;script&gt;" in page and 'x" onload' not in page


@pytest.fixture(scope="module")
def browser():
    if find_chromium() is None:
        if os.environ.get("CGAN_AUGMENT_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed, and CGAN_AUGMENT_REQUIRE_BROWSER (set by .ci/run) requires it")
        pytest.skip("chromium is not installed here (apt-get install chromium; .ci/run installs it)")
    with Browser() as b:
        yield b


def _images(page):
    return page.evaluate("""Promise.all(Array.from(document.images).map(img => img.decode()
        .then(() => ({ok: true, w: img.naturalWidth, h: img.naturalHeight, shown: img.getBoundingClientRect().width}))
        .catch(e => ({ok: false, error: String(e)}))))""")


def test_chromium_renders_the_report(report, browser):
    result, out, path = report
    page = browser.open(path, width=1280, height=900)
    assert page.evaluate("document.title") == "Accuracy-gain report: builtin:digits"
    assert page.evaluate("document.getElementById('verdict').innerText") == f"Verdict: {result['verdict']}"
    images = _images(page)
    assert len(images) >= 2  # per-class recall figure, real | generated grid (and the generator's training)
    assert all(i["ok"] and i["w"] > 0 and i["h"] > 0 and i["shown"] > 0 for i in images), images
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    assert page.problems() == []
    assert all(url.startswith(("file:", "data:")) for url in page.requests())  # nothing from the network
    shot = page.screenshot(out / "report_screenshot.png")
    with Image.open(shot) as im:
        assert im.width == 1280 and im.height > 900
        pixels = np.asarray(im.convert("L"))
    assert pixels.std() > 10  # not a blank page
    printed = browser.open(path, width=688, height=1123, media="print")  # A4 less 14 mm margins, at 96 dpi
    assert printed.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert all(i["ok"] for i in _images(printed)) and printed.problems() == []
    pdf = printed.pdf()
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 2


def test_the_checks_catch_a_broken_page(tmp_path, browser):
    """The checks above can fail: a console error, a script error and an undecodable image are seen."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!doctype html><title>bad</title><img src="data:image/png;base64,AAAA">'
                   '<script>console.error("boom"); undefinedFunction();</script>')
    page = browser.open(bad)
    problems = page.problems()
    assert any("boom" in p for p in problems) and any(p.startswith("exception") for p in problems), problems
    assert [i["ok"] for i in _images(page)] == [False]


def _with_known_gains(result):
    """The report with made-up numbers whose picture is known: synthetic helped class 9 and hurt
    class 0 against the reference; one comparison above zero, one below, one across it."""
    r = copy.deepcopy(result)
    k = len(r["data"]["classes"])
    for entry in r["arms"].values():
        entry["per_class_recall"]["mean"] = [0.5] * k
    r["arms"]["synthetic"]["per_class_recall"]["mean"] = [0.2] + [0.5] * (k - 2) + [0.9]
    r["gains"] = {"best_baseline": "oversample", "best_cheap": None, "synthetic": {
        "vs_real": {"vs": "real", "mean": 0.03, "std": 0.01, "per_seed": {"0": 0.02, "1": 0.04},
                    "interval": {"n": 2, "mean": 0.03, "low": 0.01, "high": 0.05, "confidence": 0.95}},
        "vs_best_baseline": {"vs": "oversample", "mean": -0.04, "std": 0.01, "per_seed": {"0": -0.05, "1": -0.03},
                             "interval": {"n": 2, "mean": -0.04, "low": -0.06, "high": -0.02, "confidence": 0.95}}}}
    r["comparison"] = {"arm": "synthetic", "vs": "oversample", "baselines_of_its_kind": ["oversample"], "unit": "seed",
                       "call": "hurt", "differences": {"0": -0.05, "1": -0.03},
                       "interval": {"n": 2, "mean": -0.04, "low": -0.06, "high": -0.02, "confidence": 0.95}}
    return r


def test_chromium_draws_the_forest_plot_and_the_recall_heat_map(report, browser, tmp_path):
    from cgan_augment.report.figures import recall_heatmap

    result, out, _ = report
    known = _with_known_gains(result)
    assert recall_heatmap(tmp_path / "recall_by_class.png", known) is None
    (tmp_path / "samples.png").write_bytes((out / "samples.png").read_bytes())
    path = tmp_path / "report.html"
    path.write_text(render_report_html(known, tmp_path))
    page = browser.open(path, width=1280, height=900)
    assert page.problems() == []
    forest = page.evaluate("""(() => {
        const svg = document.getElementById('forest'), box = svg.getBoundingClientRect();
        const zero = svg.querySelector('line.zero').getBoundingClientRect().x;
        const rows = Array.from(svg.querySelectorAll('g.row')).map(g => {
            const dot = g.querySelector('circle.mean').getBoundingClientRect(), ci = g.querySelector('line.ci').getBoundingClientRect();
            return {mean: +g.dataset.mean, dot: dot.x + dot.width / 2, left: ci.x, right: ci.x + ci.width,
                    label: g.querySelector('text').textContent};
        });
        return {w: box.width, h: box.height, zero, rows};
    })()""")
    assert forest["w"] > 400 and forest["h"] > 50
    rows = forest["rows"]
    assert [r["label"] for r in rows] == ["synthetic over oversample  (verdict)", "synthetic over real"]
    for r in rows:  # each dot on the side of zero its mean is on, inside its interval
        assert (r["dot"] > forest["zero"]) == (r["mean"] > 0) and r["left"] < r["dot"] < r["right"], r
    # the heat map: decoded, shown; the table's cells coloured blue where the arm gained, red where it lost
    heat = page.evaluate("""(() => {
        const img = Array.from(document.images).find(i => i.alt === 'per-class recall heat map');
        const cells = Array.from(document.querySelectorAll('#recall-heat td.heat')).map(td => ({
            gain: +td.dataset.gain, rgb: getComputedStyle(td).backgroundColor.match(/\\d+/g).map(Number)}));
        return {shown: img.getBoundingClientRect().width, natural: img.naturalWidth, cells};
    })()""")
    assert heat["shown"] > 300 and heat["natural"] > 300
    for cell in heat["cells"]:
        r, g, b = cell["rgb"]
        if cell["gain"] > 0.05:
            assert b > r + 60, cell
        elif cell["gain"] < -0.05:
            assert r > b + 60, cell
        elif cell["gain"] == 0:
            assert min(r, g, b) > 240, cell
    assert sum(c["gain"] > 0 for c in heat["cells"]) == 1 and sum(c["gain"] < 0 for c in heat["cells"]) == 1
    with Image.open(tmp_path / "recall_by_class.png") as im:  # the PNG too: a blue cell and a red cell
        rgb = np.asarray(im.convert("RGB")).astype(int).reshape(-1, 3)
    assert ((rgb[:, 2] - rgb[:, 0]) > 100).any() and ((rgb[:, 0] - rgb[:, 2]) > 100).any()
    page.screenshot(tmp_path / "known_gains.png")


def test_heat_map_orders_classes_by_training_size(report, tmp_path):
    result, out, _ = report
    known = _with_known_gains(result)
    page = render_report_html(known, out)
    counts = known["data"]["train_counts"]
    heat = page[page.index('<div id="recall-heat">'):]
    heads = re.findall(r"<td>[^<(]+ \((\d+)\)</td>", heat[:heat.index("</table>")])
    assert [int(h) for h in heads] == sorted(counts, reverse=True)
