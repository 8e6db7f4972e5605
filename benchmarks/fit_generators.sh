#!/usr/bin/env bash
# Issue 5: the generators compared by bench_generators.py, all on the long-tailed train split of
# builtin:mnist5k (test_split 1000, seed 0). Each takes 5-20 minutes on a 2-core CPU.
set -euo pipefail
ir=${1:-100}
common=(builtin:mnist5k --family dcgan --test-split 1000 --imbalance "$ir" --width 16)
# A16: the earlier defaults (Adam betas 0.5/0.999, no mode-seeking term), 2,000 steps.
cgan-augment fit "${common[@]}" --steps 2000 --beta1 0.5 --beta2 0.999 --mode-seeking 0 --out "runs/i5/ir$ir/A16"
# R1: + mode-seeking 0.1 and betas 0/0.9 (the new defaults), 2,000 steps.
cgan-augment fit "${common[@]}" --steps 2000 --beta1 0 --beta2 0.9 --mode-seeking 0.1 --out "runs/i5/ir$ir/R1"
# R2: the same continued to 4,000 steps (= today's `cgan-augment fit` defaults).
cp -r "runs/i5/ir$ir/R1" "runs/i5/ir$ir/R2"
cgan-augment fit "${common[@]}" --steps 4000 --beta1 0 --beta2 0.9 --mode-seeking 0.1 --out "runs/i5/ir$ir/R2" --resume
python benchmarks/bench_generators.py runs/i5/ir$ir/{A16,R1,R2}/model.safetensors --ir "$ir" --alphas 0.1,0.25,0.5
