"""Make the README's pictures in docs/ from a finished demo run (each kept under ~100 KB).

    cgan-augment demo --out runs/demo
    python docs/make_pictures.py runs/demo

Writes docs/training_curves.png, docs/samples_over_time.gif, docs/latent_walk.png and
docs/report.png (the top of report.html as headless Chromium draws it; needs `chromium`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the headless-Chromium driver the browser test uses


def _small_png(source: Path, target: Path, width: int, colors: int = 64) -> None:
    """``source`` scaled to ``width`` (never up) and reduced to ``colors`` colours, saved optimised."""
    with Image.open(source) as im:
        im = im.convert("RGB")
        if im.width > width:
            im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
        im.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)


def main(run: Path) -> None:
    from cgan_augment.diagnostics import write_timeline_animation
    from cgan_augment.walks import write_walk
    from headless_chromium import Browser

    generator = run / "generator"
    _small_png(generator / "training_curves.png", HERE / "training_curves.png", width=900)

    # The animation: the first five classes and five samples each.
    frames = []
    for grid in sorted((generator / "samples").glob("step_*.png")):
        with Image.open(grid) as im:
            cell = (im.width - 1) // 10
            part = im.crop((0, 0, 5 * cell + 1, 5 * cell + 1))
            frames.append(HERE / f".{grid.name}")
            part.save(frames[-1])
    try:
        write_timeline_animation(frames, HERE / "samples_over_time.gif", min_width=160)  # 16 px digits: twice
    finally:
        for f in frames:
            f.unlink()

    walk = write_walk(generator / "model.safetensors", HERE / ".walk.png", n=10, seed=0, device="cpu")[0]
    with Image.open(walk) as im:
        im.resize((im.width * 2, im.height * 2), Image.NEAREST).save(HERE / "latent_walk.png", optimize=True)
    walk.unlink()

    with Browser() as browser:
        page = browser.open(run / "report.html", width=1100, height=1000)
        page.screenshot(HERE / ".report.png", full_page=False)
    _small_png(HERE / ".report.png", HERE / "report.png", width=800)
    (HERE / ".report.png").unlink()
    for name in ("training_curves.png", "samples_over_time.gif", "latent_walk.png", "report.png"):
        print(f"docs/{name}: {(HERE / name).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/demo"))
