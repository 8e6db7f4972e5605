"""How long a 2-process torchrun fit (gloo, CPU) takes to stop after SIGTERM to the launcher,
and after SIGKILL of the launcher's process group (the workers live in their own sessions).

    OMP_NUM_THREADS=1 python benchmarks/bench_stop_times.py [--wait 60] [--repeats 2]

Prints one line per trial: the signal, the seconds until every worker had exited (or "still
running after N s"), the checkpoint's step, whether a .lock was left, and whether `fit --resume`
then runs. Tiny fit: builtin:digits at 8 px, width 8, batch 16, checkpoint every 5 steps.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIT = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
       "-m", "cgan_augment.cli", "fit", "builtin:digits", "--family", "dcgan", "--image-size", "8", "--width", "8", "--batch-size", "16",
       "--device", "cpu", "--sample-every", "1000", "--checkpoint-every", "5"]


def children(pid: int) -> list:
    """Pids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def checkpoint_step(out: Path):
    from safetensors import safe_open

    try:
        with safe_open(str(out / "checkpoint.safetensors"), "pt") as f:
            return json.loads(f.metadata()["cgan_augment"])["step"]
    except Exception:
        return None


def trial(sig: str, root: Path, wait: float) -> str:
    out = root / sig
    env = dict(os.environ, OMP_NUM_THREADS="1")
    launcher = subprocess.Popen(FIT + ["--steps", "100000", "--out", str(out)], env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # no pipe to fill
    deadline = time.time() + 180
    while checkpoint_step(out) is None and time.time() < deadline and launcher.poll() is None:
        time.sleep(0.05)
    workers = children(launcher.pid)
    sent = time.perf_counter()
    if sig == "SIGTERM":
        launcher.send_signal(signal.SIGTERM)
    else:
        os.killpg(launcher.pid, signal.SIGKILL)
    while any(alive(p) for p in workers) and time.perf_counter() - sent < wait:
        time.sleep(0.02)
    took = time.perf_counter() - sent
    left = [p for p in workers if alive(p)]
    for p in left:  # the old behaviour: end them here
        os.kill(p, signal.SIGKILL)
    launcher.wait()
    stopped = f"still running after {wait:.0f} s" if left else f"{took:.2f} s"
    lock = (out / ".lock").exists()
    step = checkpoint_step(out)
    resumed = subprocess.run(FIT + ["--steps", str((step or 0) + 2), "--out", str(out), "--resume"], env=env,
                             capture_output=True, text=True, timeout=300)
    return (f"{sig}: workers {workers} stopped in {stopped}; launcher exit {launcher.returncode}; checkpoint step {step}; "
            f"lock left: {lock}; resume exit {resumed.returncode}" + ("" if resumed.returncode == 0 else f" ({resumed.stderr.strip().splitlines()[-1]})"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--wait", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for sig in ("SIGTERM", "SIGKILL"):
                print(trial(sig, Path(tmp) / str(r), args.wait), flush=True)


if __name__ == "__main__":
    main()
