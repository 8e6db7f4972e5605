import json

from click.testing import CliRunner

from cgan_augment.cli.main import main

TINY = ["--image-size", "16", "--width", "8", "--batch-size", "16", "--steps", "3"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, *words):
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].lower().startswith("error: ") and "Traceback" not in result.output, result.output
    for w in words:
        assert w in lines[-1], lines[-1]


def test_help_lists_commands_and_explains_fit():
    result = run("--help")
    assert result.exit_code == 0 and "fit" in result.output and "sample" in result.output
    fit_help = run("fit", "--help").output
    assert "--imbalance" in fit_help and "[default: 'dcgan']" in fit_help and "--resume" in fit_help


def test_fit_info_sample_roundtrip(tmp_path, image_folder):
    out = tmp_path / "run"
    result = run("fit", image_folder, "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    assert "a=6, b=6, c=6" in result.output
    assert (out / "model.safetensors").exists() and (out / "samples.png").exists()
    info = run("info", out / "model.safetensors")
    assert info.exit_code == 0 and "3 classes" in info.output and "a=6" in info.output
    meta = json.loads(run("info", out / "model.safetensors", "--json").output)
    assert meta["classes"] == ["a", "b", "c"] and meta["arch"]["image_size"] == 16
    sampled = run("sample", out / "model.safetensors", "--class", "b", "--n", 3, "--out", tmp_path / "s")
    assert sampled.exit_code == 0, sampled.output
    assert sorted(p.name for p in (tmp_path / "s" / "b").iterdir()) == ["00000.png", "00001.png", "00002.png"]
    grid = run("sample", out / "model.safetensors", "--n", 2, "--out", tmp_path / "grid.png")
    assert grid.exit_code == 0 and (tmp_path / "grid.png").exists()
    one_line_error(run("sample", out / "model.safetensors", "--class", "zebra", "--out", tmp_path / "z"), "zebra")


def test_fit_refuses_to_overwrite_and_bad_inputs_are_one_line(tmp_path, image_folder):
    out = tmp_path / "run"
    assert run("fit", image_folder, "--out", out, *TINY).exit_code == 0
    one_line_error(run("fit", image_folder, "--out", out, *TINY), "already holds a model", "--resume")
    (image_folder / "a" / "bad.png").write_bytes(b"\x89PNG garbage")
    one_line_error(run("fit", image_folder, "--out", tmp_path / "o2", *TINY), "bad.png", "--skip-bad")
    skipped = run("fit", image_folder, "--out", tmp_path / "o3", "--skip-bad", *TINY)
    assert skipped.exit_code == 0 and "skipped: 1" in skipped.output
    one_line_error(run("fit", tmp_path / "nowhere", *TINY), "nowhere")
    one_line_error(run("fit", image_folder, "--loss", "l1"), "l1")
    one_line_error(run("fit", image_folder, "--steps", "0", "--out", tmp_path / "o4"), "steps")
    (tmp_path / "fake.safetensors").write_text("nope")
    one_line_error(run("info", tmp_path / "fake.safetensors"), "fake.safetensors")
    one_line_error(run("sample", tmp_path / "fake.safetensors", "--out", tmp_path / "x"), "fake.safetensors")


def test_resume_without_checkpoint_is_refused(tmp_path, image_folder):
    one_line_error(run("fit", image_folder, "--out", tmp_path / "fresh", "--resume", *TINY), "nothing to resume")


def test_fit_without_matplotlib_says_so_once(tmp_path, image_folder, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if matplotlib were not installed
    result = run("fit", image_folder, "--out", tmp_path / "run", *TINY, "--sample-every", "1")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("warning: matplotlib")]
    assert notes == ["warning: matplotlib is not installed: no diversity plot (pip install matplotlib)"]
    assert not (tmp_path / "run" / "diversity.png").exists() and (tmp_path / "run" / "samples.png").exists()


def test_fit_warns_of_collapse_in_output_and_info_and_strict_exits_non_zero(tmp_path, image_folder):
    blown = ["--lr", "1e6", "--steps", "6", "--sample-every", "2", *TINY[:-2]]
    result = run("fit", image_folder, "--out", tmp_path / "loud", *blown)
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert warned[0].startswith("warning: step 2: mode collapse in 3 of 3 classes ('a', 'b', 'c')")
    assert warned[-1].startswith("warning: step 6: the generated samples have not changed over the last 3 sample grids")
    info = run("info", tmp_path / "loud" / "model.safetensors").output
    assert "  warning: step 2: mode collapse in 3 of 3 classes" in info and "  warning: step 6: the generated" in info
    strict = run("fit", image_folder, "--out", tmp_path / "strict", "--strict", *blown)
    one_line_error(strict, "training stopped (--strict) at step 2: mode collapse in 3 of 3 classes")
    assert strict.exit_code == 1
    quiet = run("fit", image_folder, "--out", tmp_path / "quiet", "--strict", *TINY)
    assert quiet.exit_code == 0 and "warning" not in quiet.output
