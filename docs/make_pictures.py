"""Make the README's pictures in docs/ (each kept under ~100 KB) from a demo run and a GAN fit.

    cgan-augment demo --out runs/demo
    cgan-augment fit builtin:digits --image-size 16 --imbalance 20 --test-split 0.3 --steps 1000 \
        --sample-every 250 --out runs/digits-dcgan
    python docs/make_pictures.py runs/demo runs/digits-dcgan

Writes docs/report.png (the top of the demo's report.html as headless Chromium draws it; needs
`chromium`), and from the fit docs/training_curves.png, docs/samples_over_time.gif (its first five
classes, five samples each) and docs/latent_walk.png.
"""

from __future__ import annotations

import sys
import tempfile
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


def main(demo: Path, fit: Path) -> None:
    from cgan_augment import load_generator, write_walk
    from cgan_augment.train.diagnostics import write_timeline_animation
    from cgan_augment._util.pictures import read_grid, save_grid
    from headless_chromium import Browser

    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "report.png"
        with Browser() as browser:
            browser.open(demo / "report.html", width=1100, height=1000).screenshot(shot, full_page=False)
        _small_png(shot, HERE / "report.png", width=800)

        _small_png(fit / "training_curves.png", HERE / "training_curves.png", width=900)

        generator = load_generator(fit / "model.safetensors", device="cpu")
        k, n, shape = len(generator.classes), 10, (generator.channels, generator.image_size, generator.image_size)
        frames = []
        for grid in sorted((fit / "samples").glob("step_*.png")):
            cells = read_grid(grid, k * n, n, shape, row_labels=generator.classes)
            part = cells.view(k, n, *shape)[:5, :5].flatten(0, 1)  # five classes, five samples each
            frames.append(Path(tmp) / grid.name)
            save_grid(part, frames[-1], nrow=5, row_labels=generator.classes[:5])
        write_timeline_animation(frames, HERE / "samples_over_time.gif")

    write_walk(generator, HERE / "latent_walk.png", n=10, seed=0)
    for name in ("report.png", "training_curves.png", "samples_over_time.gif", "latent_walk.png"):
        print(f"docs/{name}: {(HERE / name).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/demo"), Path(sys.argv[2] if len(sys.argv) > 2 else "runs/digits-dcgan"))
