import json

import pytest
from cgan_augment.cli.main import main
from click.testing import CliRunner

TINY = ["--family", "dcgan", "--image-size", "16", "--width", "8", "--batch-size", "16", "--steps", "3"]


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
    assert "--imbalance" in fit_help and "[default: deform]" in fit_help and "--resume" in fit_help
    # each family's settings under its own heading, with the recipe's defaults
    gan, deform = fit_help.index("GAN settings"), fit_help.index("deform settings")
    assert gan < fit_help.index("--steps INTEGER") < deform < fit_help.index("--temperature FLOAT") < fit_help.index("Run settings")
    assert "[default: 0.75]" in fit_help and "[default: 4000]" in fit_help


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
    one_line_error(run("fit", image_folder, "--out", out, *TINY), "holds an earlier fit output", "--resume")
    (image_folder / "a" / "bad.png").write_bytes(b"\x89PNG garbage")
    one_line_error(run("fit", image_folder, "--out", tmp_path / "o2", *TINY), "bad.png", "--skip-bad")
    skipped = run("fit", image_folder, "--out", tmp_path / "o3", "--skip-bad", *TINY)
    assert skipped.exit_code == 0 and "skipped: 1" in skipped.output
    one_line_error(run("fit", tmp_path / "nowhere", *TINY), "nowhere")
    one_line_error(run("fit", image_folder, "--loss", "l1"), "l1")
    one_line_error(run("fit", image_folder, "--family", "dcgan", "--steps", "0", "--out", tmp_path / "o4"), "steps")
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


# ----------------------------------------------------------------------------- nothing written over files we did not write


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from cgan_augment import DataSpec, RunSettings, TrainConfig, load_data, train_generator

    out = tmp_path_factory.mktemp("model")
    train = load_data(DataSpec("builtin:digits", image_size=8)).train
    train_generator(train, TrainConfig(family="mlp", steps=1, width=4, z_dim=4, batch_size=8), out, run=RunSettings(device="cpu"))
    return out / "model.safetensors"


def test_sample_never_writes_over_a_folder_it_did_not_write(tmp_path, tiny_model):
    user = tmp_path / "userdir" / "4"
    user.mkdir(parents=True)
    (user / "00000.png").write_bytes(b"the user's own file")
    for extra in ([], ["--force"]):
        one_line_error(run("sample", tiny_model, "--class", "4", "--n", 2, "--out", tmp_path / "userdir", *extra),
                       f"error: {tmp_path / 'userdir'}: folder is not empty and was not written by `cgan-augment sample` "
                       "(no cgan-augment.json); it is left alone, even with --force. Choose a new or empty --out.")
    assert (user / "00000.png").read_bytes() == b"the user's own file"
    mine = tmp_path / "mine"
    assert run("sample", tiny_model, "--class", "4", "--n", 2, "--out", mine).exit_code == 0
    assert sorted(p.name for p in (mine / "4").iterdir()) == ["00000.png", "00001.png"] and (mine / "cgan-augment.json").exists()
    one_line_error(run("sample", tiny_model, "--class", "3", "--n", 1, "--out", mine),
                   f"error: {mine}: holds an earlier sample output; pass --force to replace it, or choose another --out.")
    assert run("sample", tiny_model, "--class", "3", "--n", 1, "--out", mine, "--force").exit_code == 0
    assert sorted(p.name for p in mine.iterdir()) == ["3", "cgan-augment.json"]  # replaced whole, nothing stale


def test_sample_grid_file_is_refused_unless_it_is_our_own_and_forced(tmp_path, tiny_model):
    from PIL import Image

    theirs = tmp_path / "mygrid.png"
    Image.new("L", (4, 4), 7).save(theirs)
    before = theirs.read_bytes()
    for extra in ([], ["--force"]):
        one_line_error(run("sample", tiny_model, "--n", 2, "--out", theirs, *extra),
                       f"error: {theirs}: exists and was not written by `cgan-augment sample`; it is left alone, even with "
                       "--force. Choose another --out.")
    assert theirs.read_bytes() == before
    for name in ("grid.png", "grid.jpg"):
        ours = tmp_path / name
        assert run("sample", tiny_model, "--n", 2, "--out", ours).exit_code == 0
        assert ours.is_file() and Image.open(ours).format == ("PNG" if name.endswith(".png") else "JPEG")
        one_line_error(run("sample", tiny_model, "--n", 2, "--out", ours),
                       f"error: {ours}: holds an earlier sample grid; pass --force to replace it, or choose another --out.")
        assert run("sample", tiny_model, "--n", 3, "--out", ours, "--force").exit_code == 0
    one_line_error(run("sample", tiny_model, "--out", tmp_path / "grid.webp"),
                   "one grid is written as .png or .jpg")
    assert not (tmp_path / "grid.webp").exists()


def test_refused_fit_leaves_no_empty_folder(tmp_path):
    one_line_error(run("fit", "builtin:digits", "--image-size", 7, "--out", tmp_path / "o", "--family", "dcgan", "--steps", 1), "image_size 7")
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- a light start


def test_help_and_argument_errors_do_not_import_torch():
    import subprocess
    import sys

    probe = ("import sys\nfrom cgan_augment.cli.main import main\n"
             "for args in ([\"--help\"], [\"fit\", \"--help\"], [\"report\", \"--help\"], [\"demo\", \"--help\"], "
             "[\"augment\", \"--help\"], [\"sample\", \"--help\"], [\"fit\", \"builtin:digits\", \"--family\", \"dcgan\", \"--steps\", \"0\"]):\n"
             "    try:\n        main(args=args, prog_name='cgan-augment')\n    except SystemExit:\n        pass\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'torchvision', 'numpy', 'PIL', 'sklearn'}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]", out[-500:]
    assert "error: steps should be a positive integer. Got 0." in subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True).stderr


def test_defaults_read_from_source_match_the_signatures():
    import inspect

    from cgan_augment.cli.options import _source_parameters

    from cgan_augment.mixing.export import write_samples
    from cgan_augment.mixing.synthetic import SyntheticDataset
    from cgan_augment.report.demo import run_demo
    from cgan_augment.report.from_files import report_from_spec

    for target, obj in (("cgan_augment.mixing.export:write_samples", write_samples), ("cgan_augment.report.demo:run_demo", run_demo),
                        ("cgan_augment.report.from_files:report_from_spec", report_from_spec),
                        ("cgan_augment.mixing.synthetic:SyntheticDataset", SyntheticDataset.__init__)):
        real = {k: p.default for k, p in inspect.signature(obj).parameters.items() if k != "self"}
        read = _source_parameters(target)
        assert read.keys() == real.keys(), target
        for k, v in read.items():
            if type(v).__name__ != "_NotLiteral":
                assert v == real[k], (target, k)


def test_walk_never_writes_over_a_picture_it_did_not_write(tmp_path, tiny_model):
    from PIL import Image

    theirs = tmp_path / "walk.png"
    Image.new("L", (4, 4), 7).save(theirs)
    one_line_error(run("sample", tiny_model, "--walk", "--n", 3, "--out", theirs, "--force"),
                   f"error: {theirs}: exists and was not written by `cgan-augment sample`; it is left alone, even with --force.")
    ours = tmp_path / "ours.png"
    assert run("sample", tiny_model, "--walk", "--n", 3, "--out", ours).exit_code == 0
    one_line_error(run("sample", tiny_model, "--walk", "--n", 3, "--out", ours),
                   f"error: {ours}: holds an earlier latent walk; pass --force to replace it, or choose another --out.")
    assert run("sample", tiny_model, "--walk", "--n", 4, "--out", ours, "--force").exit_code == 0
