"""How fast the command line answers --help and argument errors (issue 16: under a second, without
importing torch).

Each command runs in a fresh interpreter ``--repeats`` times; the script prints the median wall time,
whether torch (or numpy, PIL, sklearn) was imported, and, as a ratio that does not depend on the
machine's speed, the median time of ``python -c "import torch"`` for comparison.

    OMP_NUM_THREADS=1 python benchmarks/bench_cli_startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time

COMMANDS = [
    ["--help"],
    ["fit", "--help"],
    ["report", "--help"],
    ["demo", "--help"],
    ["sample", "--help"],
    ["augment", "--help"],
    ["fit"],                                   # missing DATA: click's usage error
    ["fit", "builtin:digits", "--family", "dcgan", "--steps", "abc"],  # a bad value: click's error
    ["fit", "builtin:digits", "--family", "dcgan", "--steps", "0"],    # a bad value: our one-line error (TrainConfig)
]

# Runs the CLI in-process and reports which heavy modules it imported.
_PROBE = """
import sys
from cgan_augment.cli.main import main
try:
    main(args={args!r}, prog_name="cgan-augment")
except SystemExit:
    pass
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & {{"torch", "torchvision", "numpy", "PIL", "sklearn", "scipy"}})
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


def _time(argv: list, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    exe = shutil.which("cgan-augment")
    if exe is None:
        sys.exit("cgan-augment is not on PATH: pip install -e . first")
    torch_import = _time([sys.executable, "-c", "import torch"], args.repeats)
    rows = []
    for cmd in COMMANDS:
        seconds = _time([exe, *cmd], args.repeats)
        probe = subprocess.run([sys.executable, "-c", _PROBE.format(args=cmd)], capture_output=True, text=True)
        heavy = next((line[6:] for line in probe.stderr.splitlines() if line.startswith("HEAVY=")), "?")
        rows.append({"command": "cgan-augment " + " ".join(cmd), "median_s": round(seconds, 3),
                     "vs_import_torch": round(seconds / torch_import, 3), "heavy_imports": heavy or "none"})
    print(f"python -c 'import torch': {torch_import:.2f} s (median of {args.repeats})")
    print("| command | median wall time (s) | / import torch | heavy modules imported |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| `{r['command']}` | {r['median_s']:.2f} | {r['vs_import_torch']:.2f} | {r['heavy_imports']} |")
    print(json.dumps({"import_torch_s": round(torch_import, 3), "rows": rows}))
    slow = [r for r in rows if r["median_s"] >= 1.0 or "torch" in r["heavy_imports"]]
    sys.exit(1 if slow else 0)


if __name__ == "__main__":
    main()
