"""``report.html``: the accuracy-gain report as one self-contained page.

Written from the report's result dict (what ``report.json`` holds) and the figures beside it,
which are embedded as ``data:`` URIs, so the page needs no other file and no network: it can be
mailed, attached or opened offline. One column of readable width on a laptop; in print, plain
black on white with figures and table rows kept whole on a page.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Optional, Union

from .._util.files import write_text_atomic
from .figures import class_order, forest_svg, gain_colour, gain_scale, recall_reference
from .gains import classifier_line, verdict_call, verdict_method

__all__ = ["render_report_html", "write_report_html"]

_MAX_EMBED_BYTES = 8 * 2**20  # a figure larger than this is linked, not embedded
_PIXEL_ART_WIDTH = 640  # sample grids are scaled up by a whole factor to about this width

_CSS = """
:root { --ink: #1d232b; --muted: #5b6572; --rule: #d8dde3; --tint: #f4f6f8; --good: #1b7f3b; --warn: #9a6700; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 68rem; padding: 1.5rem 1.25rem 3rem; color: var(--ink); background: #fff;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .6rem; padding-bottom: .2rem; border-bottom: 1px solid var(--rule); }
p, li { max-width: 52rem; }
.sub { color: var(--muted); margin: 0 0 1rem; }
.verdict { font-size: 1.1rem; font-weight: 600; padding: .8rem 1rem; border-left: 6px solid var(--muted);
           background: var(--tint); border-radius: 4px; }
.verdict.good { border-color: var(--good); } .verdict.warn { border-color: var(--warn); } .verdict.bad { border-color: var(--bad); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .88rem; margin: .4rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--rule); padding: .3rem .6rem; text-align: right; vertical-align: top; }
td { white-space: nowrap; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
td.heat { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
thead th { background: var(--tint); border-bottom: 2px solid var(--rule); }
tr.best td { font-weight: 600; }
td.note { color: var(--muted); text-align: left; max-width: 22rem; white-space: normal; }
figure { margin: .6rem 0 1.2rem; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--rule); }
img.pixels { image-rendering: pixelated; }
figcaption { color: var(--muted); font-size: .85rem; margin-top: .3rem; max-width: 52rem; }
dl.settings { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; font-size: .85rem; margin: .3rem 0 1rem; }
dl.settings dt { color: var(--muted); } dl.settings dd { margin: 0; font-family: ui-monospace, "DejaVu Sans Mono", monospace; word-break: break-word; }
.cols { display: grid; grid-template-columns: repeat(auto-fit, minmax(20rem, 1fr)); gap: 0 2rem; }
.warning { border-left: 6px solid var(--warn); padding: .4rem .8rem; background: #fff8e6; }
figure svg text { font-family: inherit; font-variant-numeric: tabular-nums; }
details summary { cursor: pointer; color: var(--muted); font-size: .88rem; }
footer { margin-top: 2.5rem; color: var(--muted); font-size: .8rem; }
@media print {
  @page { margin: 14mm; }
  body { max-width: none; padding: 0; font-size: 10pt; }
  .verdict { background: none; border: 1px solid #000; border-left-width: 6px; }
  thead th { background: none; }
  h2 { break-after: avoid; }
  figure, tr, dl.settings { break-inside: avoid; }
  .scroll { overflow: visible; }
  table { font-size: 8pt; }
  th, td { padding: .15rem .3rem; }
  a { color: inherit; text-decoration: none; }
}
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _pm(entry: Optional[dict], scale: float = 1.0, digits: int = 3) -> str:
    if not entry:
        return "–"
    return f"{entry['mean'] * scale:.{digits}f} ± {entry['std'] * scale:.{digits}f}"


def _image(path: Path, alt: str, caption: str, pixels: bool = False) -> str:
    """A figure with the file embedded as a data URI (linked instead when huge; a note when missing)."""
    if not path.is_file():
        return ""
    data = path.read_bytes()
    if len(data) > _MAX_EMBED_BYTES:
        return f'<p><a href="{_e(path.name)}">{_e(alt)}</a> ({len(data) // 2**20} MB, not embedded)</p>'
    mime = {".png": "image/png", ".gif": "image/gif", ".webp": "image/webp", ".jpg": "image/jpeg"}.get(path.suffix.lower(), "image/png")
    size = ""
    try:
        from PIL import Image

        with Image.open(path) as im:
            width, height = im.size
        scale = max(1, _PIXEL_ART_WIDTH // width) if pixels else 1
        size = f' width="{width * scale}" height="{height * scale}"'
    except Exception:  # noqa: BLE001 - size attributes are a nicety; the browser still decodes the image
        pass
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    cls = ' class="pixels"' if pixels else ""
    return (f'<figure><img src="{uri}" alt="{_e(alt)}"{size}{cls}>'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _verdict_class(result: dict) -> str:
    """The verdict's colour, from its call (the 95 % interval), never from its wording."""
    call = (result.get("comparison") or {}).get("call")
    return {"helped": "good", "no clear difference": "warn", "hurt": "bad"}.get(call, "")


def _method(result: dict) -> str:
    """How the verdict was made (:func:`~.gains.verdict_method`), as HTML paragraphs."""
    import re

    paragraphs = [p for p in verdict_method(result) if p]
    code = lambda t: re.sub(r"`([^`]*)`", r"<code>\1</code>", _e(t))  # noqa: E731
    return "".join(f'<p class="method">{code(p)}</p>' for p in paragraphs)


def _table(head: list, rows: list, classes: Optional[list] = None, text_columns: tuple = (0,)) -> str:
    """An HTML table; cells are already-escaped HTML; ``classes`` per row (``None`` for none);
    the headers of ``text_columns`` align left, over text."""
    out = ['<div class="scroll"><table><thead><tr>',
           *(f'<th class="text">{h}</th>' if i in text_columns else f"<th>{h}</th>" for i, h in enumerate(head)),
           "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        out.append(f"<tr{cls}>" + "".join(row) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _arms_table(result: dict) -> str:
    names = result["data"]["classes"]
    usable = [a for a in result["arms"] if a != "oracle"]  # the oracle is a ceiling, not a contender
    best = max(usable, key=lambda a: result["arms"][a]["balanced_accuracy"]["mean"], default=None)
    rows, marks = [], []
    for arm, entry in result["arms"].items():
        recall = entry["per_class_recall"]["mean"]
        worst = min(range(len(recall)), key=recall.__getitem__)
        size = next(iter(entry["runs"].values()), {}).get("train_size", "")
        rows.append([f"<td>{_e(arm)}</td>", f"<td>{_pm(entry['balanced_accuracy'])}</td>", f"<td>{_pm(entry['accuracy'])}</td>",
                     f"<td>{_pm(entry['macro_f1'])}</td>", f"<td>{recall[worst]:.2f} ({_e(names[worst])})</td>",
                     f"<td>{_e(size)}</td>",
                     f'<td class="note">{_e("; ".join(filter(None, [entry.get("note", ""), entry.get("flag", "")])))}</td>'])
        marks.append("best" if arm == best else None)
    for arm, why in result["skipped"].items():
        rows.append([f"<td>{_e(arm)}</td>", '<td class="text" colspan="5">skipped</td>', f'<td class="note">{_e(why)}</td>'])
        marks.append(None)
    return _table(["arm", "balanced accuracy", "accuracy", "macro-F1", "worst-class recall", "training images", "note"],
                  rows, marks, text_columns=(0, 6))


def _gains_table(result: dict) -> str:
    gains, rows = result["gains"], []
    for arm, entry in gains.items():
        if not isinstance(entry, dict) or arm in ("oracle_gap_recovered",):
            continue
        for key, g in entry.items():  # vs_real, vs_best_baseline, and any arm-specific comparison
            if not key.startswith("vs_") or not g:
                continue
            label = f"best baseline ({g['vs']})" if key == "vs_best_baseline" else g["vs"]
            seeds = ", ".join(f"{100 * v:+.1f}" for v in g["per_seed"].values())
            iv = g.get("interval") or {}
            span = f"[{100 * iv['low']:+.1f}, {100 * iv['high']:+.1f}]" if iv.get("low") is not None else "–"
            rows.append([f"<td>{_e(arm)}</td>", f'<td class="text">{_e(label)}</td>',
                         f"<td>{100 * g['mean']:+.1f} ± {100 * g['std']:.1f}</td>", f"<td>{span}</td>", f"<td>{seeds}</td>",
                         f'<td class="text">{verdict_call(iv) if iv else ""}</td>'])
    if not rows:
        return "<p>No synthetic arm was compared with a baseline.</p>"
    per = "per pair" if result.get("draws") else "per seed"
    confidence = next((g["interval"]["confidence"] for e in gains.values() if isinstance(e, dict)
                       for k, g in e.items() if k.startswith("vs_") and g and g.get("interval")), 0.95)
    table = _table(["arm", "over", "gain (points) ± sd", f"{confidence:.0%} interval", per, "call"], rows,
                   text_columns=(0, 1, 5))
    text = (f'<figure>{forest_svg(result)}<figcaption>Each comparison\'s paired mean gain (dot) and its {confidence:.0%} '
            "interval (bar) in points of balanced accuracy; the dashed line is zero. Green: the whole interval lies above "
            "zero; red: below; grey: it includes zero.</figcaption></figure>"
            f"<details><summary>The numbers, {per}</summary>{table}</details>")
    recovered = gains.get("oracle_gap_recovered") or {}
    if recovered:
        parts = ", ".join(f"{_e(a)} {v * 100:.0f}%" for a, v in recovered.items() if v is not None)
        text += (f"<p>Share of the real → oracle gap ({gains['oracle_gap'] * 100:.1f} points of balanced accuracy) "
                 f"recovered: {parts}.</p>")
    return text


def _recall_table(result: dict) -> str:
    """Mean recall per arm and class, each cell coloured by the gain over the best baseline (the
    heat map's diverging scale), classes from the largest to the smallest; an arm per row, or a
    class per row when there are more classes than arms (a wide table would be cut off in print)."""
    import numpy as np

    classes, counts = result["data"]["classes"], result["data"]["train_counts"]
    arms, order, ref = list(result["arms"]), class_order(counts), recall_reference(result)
    recall = np.array([result["arms"][a]["per_class_recall"]["mean"] for a in arms])  # [arm][class]
    gain = recall - recall[arms.index(ref)] if ref else np.zeros_like(recall)
    scale = gain_scale(gain)

    def cell(i: int, k: int) -> str:
        return (f'<td class="heat" data-gain="{gain[i, k]:.4f}" style="background: {gain_colour(gain[i, k], scale)}">'
                f"{recall[i, k]:.2f}</td>")

    name = lambda a: _e(a) + (" <small>(reference)</small>" if a == ref else "")  # noqa: E731
    if len(classes) <= len(arms):
        head = ["arm"] + [f"{_e(classes[k])}<br><small>n={counts[k]}</small>" for k in order]
        rows = [[f"<td>{name(a)}</td>"] + [cell(i, k) for k in order] for i, a in enumerate(arms)]
    else:
        head = ["class (training images)"] + [name(a) for a in arms]
        rows = [[f"<td>{_e(classes[k])} ({counts[k]})</td>"] + [cell(i, k) for i in range(len(arms))] for k in order]
    note = (f"<p>Recall on the test images, mean over seeds; each cell is coloured by the gain over <code>{_e(ref)}</code>, "
            "the best baseline (blue: higher, red: lower, white: the same); classes from the largest to the smallest.</p>"
            if ref else "")
    return note + '<div id="recall-heat">' + _table(head, rows) + "</div>"


def _quality_table(quality: dict) -> str:
    fmt = lambda v, d=2: "–" if v is None else f"{v:.{d}f}"  # noqa: E731
    rows = [[f"<td>{_e(c)}</td>", f"<td>{fmt(r['frechet_distance'], 1)}</td>", f"<td>{fmt(r['precision'])}</td>",
             f"<td>{fmt(r['recall'])}</td>", f"<td>{fmt(r['density'])}</td>", f"<td>{fmt(r['coverage'])}</td>"]
            for c, r in list(quality["per_class"].items()) + [("mean", quality["mean"])]]
    marks = [None] * (len(rows) - 1) + ["best"]
    return (f"<p>In the feature space of the {_e(quality['feature_space'])}, against the {_e(quality['reference'])}, "
            f"{_e(quality['samples_per_class'])} generated images per class. Lower Fréchet distance and higher "
            "precision, recall, density and coverage are better.</p>"
            + _table(["class", "Fréchet distance", "precision", "recall", "density", "coverage"], rows, marks))


def _settings(values: dict) -> str:
    items = []
    for k, v in values.items():
        if v is None or v == {} or v == []:
            continue
        text = json.dumps(v) if isinstance(v, (dict, list, tuple)) else str(v)
        items.append(f"<dt>{_e(k)}</dt><dd>{_e(text)}</dd>")
    return '<dl class="settings">' + "".join(items) + "</dl>"


def _model_folder(result: dict, folder: Path) -> Optional[Path]:
    """The folder of the generator's model file, where its training files are, if it can be found."""
    model = (result.get("data") or {}).get("model")
    if not model:
        return None
    path = Path(model)
    for candidate in (path, folder / path):
        if candidate.parent.is_dir():
            return candidate.parent
    return None


def _generator_name(result: dict) -> str:
    family = (((result.get("generator") or {}).get("arch")) or {}).get("family")
    return f"a {family}-family generator" if family else "a generator"


def render_report_html(result: dict, folder: Union[str, Path]) -> str:
    """The page for ``result`` (a report dict); figures named in ``result["files"]`` are read from
    ``folder``, the generator's training curves and timeline from its model's folder when present."""
    folder = Path(folder)
    data, cfg, files = result["data"], result["config"], result.get("files", {})
    source = data.get("source", "given datasets")
    n_seeds = len(result["seeds"])
    counts = ", ".join(f"{_e(c)}={n}" for c, n in zip(data["classes"], data["train_counts"]))
    about = (f"Data: {_e(source)}" + (f" (imbalance {data['imbalance']:g})" if data.get("imbalance") else "")
             + f": {sum(data['train_counts'])} training images ({counts}), {sum(data['test_counts'])} held-out test images"
             + (f", oracle {sum(data['oracle_counts'])} images" if data.get("oracle_counts") else "") + ". "
             + _e(classifier_line(result)) + " "
             + (f"Seeds {', '.join(map(str, result['seeds']))}; mean ± standard deviation over seeds."
                if not result.get("draws") else
                f"{n_seeds} (seed, long-tail draw) pairs {', '.join(result['seeds'])}, each with its own long-tail draw, "
                "test split and generator (their own reports are in " + ", ".join(f"draw_{d}/" for d in result["draws"])
                + "); mean ± standard deviation over the pairs."))
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Accuracy-gain report: {_e(source)}</title>", f"<style>{_CSS}</style></head><body>",
        "<header><h1>Accuracy-gain report</h1>",
        f'<p class="sub">Does synthetic data from {_e(_generator_name(result))} help a classifier on {_e(source)}, '
        "against honest baselines?</p></header>",
        f'<p class="verdict {_verdict_class(result)}" id="verdict">Verdict: {_e(result["verdict"])}</p>',
        _method(result),
        *(f'<p class="warning">Warning: {_e(w)}</p>' for w in result.get("warnings") or []),
        f'<p id="about">{about}</p>',
        "<h2>Arms</h2>", _arms_table(result),
        f"<h2>Gains in balanced accuracy, paired by {_e(result.get('pairing', 'seed'))}</h2>", _gains_table(result),
        "<h2>Per-class recall</h2>",
    ]
    if files.get("figure"):
        parts.append(_image(folder / files["figure"], "per-class recall heat map",
                            "Per-class test recall by arm (numbers), coloured by the gain over the best baseline (blue "
                            "helped, red hurt); classes from the largest to the smallest, n = training images."))
    elif files.get("figure_note"):
        parts.append(f"<p>(No figure: {_e(files['figure_note'])}.)</p>")
    parts.append(_recall_table(result))
    if files.get("samples"):
        parts += ["<h2>Real and generated images</h2>",
                  _image(folder / files["samples"], "real images left, generated right, one row per class",
                         "One row per class: real training images on the left, generated images on the right.", pixels=True)]
    if result.get("quality"):
        parts += ["<h2>Generated-sample quality</h2>", _quality_table(result["quality"])]
    training = _model_folder(result, folder)
    if training is not None:
        shown = [_image(training / "training_curves.png", "generator training curves",
                        "The generator's training: losses, D's scores on real and generated images, per-class diversity."),
                 _image(training / "samples_over_time.gif", "generated samples over training",
                        "Fixed-noise samples over training, one row per class.", pixels=True)]
        if any(shown):
            parts += ["<h2>Generator training</h2>", *shown]
    generator = result.get("generator") or {}
    parts += ["<h2>Settings and versions</h2>", '<div class="cols"><div>', "<h3>Report</h3>", _settings(cfg),
              "<h3>Classifier</h3>", _settings(result.get("classifier") or {}),
              "<h3>Data</h3>", _settings({k: v for k, v in data.items() if k not in ("classes", "train_counts", "test_counts", "oracle_counts")})]
    if generator:
        step = {"step": generator["step"]} if generator.get("step") is not None else {}
        parts += ["<h3>Generator</h3>", _settings({**step, **(generator.get("arch") or {}),
                                                   **(generator.get("train_config") or {})})]
    parts += ["</div><div>", "<h3>Versions</h3>", _settings(dict(result.get("versions") or {}, device=result.get("device"))),
              "</div></div>",
              f"<footer>{n_seeds} " + ("(seed, draw) pairs" if result.get("draws") else f"seed{'s' if n_seeds != 1 else ''}")
              + f", {result.get('wall_seconds', 0):.0f} s wall time. "
              "Every number is in report.json beside this page.</footer>", "</body></html>"]
    return "\n".join(p for p in parts if p)


def write_report_html(result: dict, folder: Union[str, Path], name: str = "report.html") -> Path:
    """Write :func:`render_report_html` to ``folder/name`` atomically; returns the path."""
    path = Path(folder) / name
    write_text_atomic(path, render_report_html(result, folder))
    return path
