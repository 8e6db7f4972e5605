"""report.html: self-contained, escaped, and rendered by real headless Chromium (title, verdict,
decoded images, no console errors, no network, fits a laptop screen and an A4 page)."""

import copy
import os
import re

import numpy as np
import pytest
from PIL import Image

from cgan_augment import DataSpec, ReportConfig, RunSettings, TrainConfig
from cgan_augment.report.from_files import report_from_spec
from cgan_augment.report.html import render_report_html
from headless_chromium import Browser, find_chromium

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
