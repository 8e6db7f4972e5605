"""Training on 2 CPU processes over gloo: the same model as 1 process, resume after kill -9, and
only rank 0 writes. Digits at 8 px, width 8, a handful of steps."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from cgan_augment import ConfigError, DataSpec, RunSettings, TrainConfig, load_data, train_generator
from cgan_augment.train.sampler import _StepBatchSampler

CONFIG = TrainConfig(steps=4, width=8, z_dim=8, batch_size=16)  # dcgan, hinge, DiffAugment, mode seeking
RUN = RunSettings(device="cpu", checkpoint_every=2, sample_every=100)


def _digits():
    return load_data(DataSpec("builtin:digits", image_size=8, imbalance=10)).train


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank, world, port, out, results):
    """One rank: records every file it opens for writing or renames under ``out``."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    writes = []

    def audit(event, args):
        if event == "open" and str(args[0]).startswith(out) and (
                (isinstance(args[1], str) and set(args[1]) & set("wax+")) or (isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR))):
            writes.append(str(args[0]))
        elif event in ("os.rename", "os.replace", "os.remove", "os.mkdir") and str(args[0]).startswith(out):
            writes.append(f"{event} {args[0]}")

    sys.addaudithook(audit)
    g = train_generator(_digits(), CONFIG, out, run=RUN)
    torch.save({"state": g.state_dict(), "writes": writes}, os.path.join(results, f"rank{rank}.pt"))


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    out, results = root / "out", root / "results"
    results.mkdir()
    mp.spawn(_rank_main, args=(2, _free_port(), str(out), str(results)), nprocs=2)
    return out, [torch.load(results / f"rank{r}.pt") for r in range(2)]


def test_two_gloo_processes_train_what_one_process_trains(two_process_run, tmp_path):
    """Tolerance: float sums in another order (gradients averaged over ranks, batch-norm statistics
    summed across them) flip the sign of a few near-zero gradients, which Adam turns into steps of
    about lr; every weight stays within 25·lr and under 2% of them move by more than 1e-5. Another
    seed, for scale, differs by about 5."""
    out, ranks = two_process_run
    one = load_file(train_generator(_digits(), CONFIG, tmp_path, run=RUN) and tmp_path / "model.safetensors")
    two = load_file(out / "model.safetensors")
    assert set(one) == set(two)
    floats = [k for k in one if one[k].is_floating_point()]
    gap = max((one[k] - two[k]).abs().max().item() for k in floats)
    moved = sum(((one[k] - two[k]).abs() > 1e-5).sum().item() for k in floats) / sum(one[k].numel() for k in floats)
    assert gap < 25 * CONFIG.lr and moved < 0.02, (gap, moved)
    a, b = ranks[0]["state"], ranks[1]["state"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # both ranks return the same generator
    other = train_generator(_digits(), TrainConfig(**{**CONFIG.__dict__, "seed": 1})).state_dict()
    assert max((other[k] - one[k]).abs().max().item() for k in floats) > 100 * gap


def test_only_rank_0_writes(two_process_run):
    out, ranks = two_process_run
    assert ranks[1]["writes"] == []
    assert any("model.safetensors" in w for w in ranks[0]["writes"])
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss_d" in r] == [1, 2, 3, 4]  # one line per step, not one per rank
    assert json.loads((out / "config.json").read_text())["run"]["processes"] == 2


def test_sampler_shards_the_global_batch_by_rank():
    targets = [0] * 50 + [1] * 10 + [2] * 3
    whole = list(_StepBatchSampler(targets, 12, True, 0, 0, 3, chunks=2))
    parts = [list(_StepBatchSampler(targets, 12, True, 0, 0, 3, rank=r, world=2, chunks=2)) for r in range(2)]
    for step, batch in enumerate(whole):  # chunk k of the global batch = rank 0's part of it, then rank 1's
        assert batch == parts[0][step][:3] + parts[1][step][:3] + parts[0][step][3:] + parts[1][step][3:]
    with pytest.raises(ValueError):
        _StepBatchSampler(targets, 10, True, 0, 0, 1, world=4)


def test_a_batch_that_does_not_split_over_the_processes_is_refused(capfd):
    with pytest.raises(mp.ProcessExitedException):
        mp.start_processes(_refused, args=(_free_port(),), nprocs=2, start_method="spawn")
    assert "batch_size 15 (the global batch) does not split over 2 processes; use a multiple of 2." in capfd.readouterr().err


def _refused(rank, port):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
    try:
        train_generator(_digits(), TrainConfig(steps=1, width=8, z_dim=8, batch_size=15), run=RUN)
    except ConfigError as e:
        raise SystemExit(str(e)) from None


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            "-m", "cgan_augment.cli", "fit", "builtin:digits", "--family", "dcgan", "--image-size", "8", "--width", "8", "--batch-size", "16",
            "--device", "cpu", "--sample-every", "1000", "--checkpoint-every", "5"]


def test_kill_9_of_a_two_process_run_then_resume_continues_on_both_ranks(tmp_path):
    """The whole torchrun process group gets SIGKILL once a checkpoint exists; the resumed run
    starts from it on both ranks (the ranks' networks are compared at every checkpoint, so a rank
    that did not resume fails the run) and ends with the 1-process model, within the tolerance above."""
    steps = ["--steps", "40"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = tmp_path / "killed"
    proc = subprocess.Popen(TORCHRUN + steps + ["--out", str(out)], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "checkpoint.safetensors").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    from safetensors import safe_open

    with safe_open(str(out / "checkpoint.safetensors"), "pt") as f:
        killed_at = json.loads(f.metadata()["cgan_augment"])["step"]
    assert killed_at < 40, "the run finished before it could be killed; make it longer"
    resumed = subprocess.run(TORCHRUN + steps + ["--out", str(out), "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss_d" in r] == list(range(1, 41))
    one = train_generator(_digits_full(), TrainConfig(steps=40, width=8, batch_size=16), tmp_path / "one",
                          run=RunSettings(device="cpu", sample_every=1000, checkpoint_every=1000))
    a, b = one.state_dict(), load_file(out / "model.safetensors")
    gap = max((a[k] - b[k]).abs().max().item() for k in a if a[k].is_floating_point())
    assert gap < 0.05, gap  # 40 steps of float-order noise (a wrong resume on a rank moves weights by ~1)


def _digits_full():
    return load_data(DataSpec("builtin:digits", image_size=8)).train
