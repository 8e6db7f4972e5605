"""Progress on stderr: plain lines when stderr is not a terminal (logs, CI), from every long command."""

import io

from cgan_augment.cli.main import main
from cgan_augment.cli.progress import Progress
from click.testing import CliRunner


def test_plain_lines_every_twentieth_and_at_the_end_of_each_stage():
    out = io.StringIO()  # not a terminal
    with Progress(out) as progress:
        for step in range(1, 101):
            progress("fit", step, 100, f"D {step}")
        for done in (25, 50, 75):  # a stage that moves in jumps
            progress("classifiers", done, 75, "arm")
    lines = out.getvalue().splitlines()
    fit = [line for line in lines if line.startswith("fit: ")]
    assert len(fit) == 20 and fit[0].startswith("fit: 5/100 (5%) ") and fit[0].endswith("  D 5")
    assert fit[-1].startswith("fit: 100/100 (100%)") and "left" not in fit[-1]
    assert "about" in fit[0] and "left" in fit[0]
    assert [line.split(" ")[1] for line in lines if line.startswith("classifiers: ")] == ["25/75", "50/75", "75/75"]


def test_every_sets_the_interval():
    out = io.StringIO()
    progress = Progress(out, every=3)
    for step in range(1, 8):
        progress("write", step, 7)
    assert [line.split(" ")[1] for line in out.getvalue().splitlines()] == ["3/7", "6/7", "7/7"]


def test_fit_prints_plain_progress_when_stderr_is_not_a_terminal(tmp_path, image_folder):
    result = CliRunner().invoke(main, ["fit", str(image_folder), "--out", str(tmp_path / "run"), "--family", "dcgan", "--image-size", "16",
                                       "--width", "8", "--batch-size", "16", "--steps", "3"])
    assert result.exit_code == 0, result.output
    assert [line.split(" ")[1] for line in result.stderr.splitlines() if line.startswith("fit: ")] == ["1/3", "2/3", "3/3"]
