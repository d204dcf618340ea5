#!/usr/bin/env bash
# The GPU checks, in one run of at most ~9.5 minutes on one GPU: what a session with a
# lent GPU runs (bash tests/gpu/check.sh [all]), then puts the numbers in the README's
# Speed section, naming the GPU. Every number is printed; the exactness tests fail loudly.
# Without "all": the exactness tests, the loss-surface benchmark, the VGG-16 step's speed
# levers (bnopt bench-gpu) and the stacked DLN (~6 minutes); with it, also the per-job
# times and the training benchmarks of the loop.
# The GPU machines have no Snakemake to resolve the paper config's defaults: first, here,
# `python tests/gpu/jobtimes.py resolve --out .gpu/paper.json`, and carry .gpu along.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
py="${PYTHON:-.venv/bin/python}"
export PYTHONPATH="$PWD/workflow${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"

echo "== exactness on CUDA: a resumed run and each probe replay equal the unbroken run bit for bit; surfaces repeat"
timeout 240 "$py" -m pytest -q -p no:cacheprovider tests/test_cuda.py
echo "== loss surfaces: the paper config's VGG-16 (1,024 samples per point, 41 x 41) and DLN (1,000, 41 x 41)"
timeout 120 "$py" -m bnopt bench-surface --net vgg --arch vgg16 --width 1.0 --samples 1024 --grid 41 --points 20 \
    --repeats 2 --device cuda --variants standard batchnorm noisy_batchnorm l2
timeout 60 "$py" -m bnopt bench-surface --net dln --samples 1000 --grid 41 --points 50 --repeats 2 --device cuda
echo "== VGG-16 full width, batch 128: the speed levers (channels_last, CUDA graph, TF32) and several runs per GPU"
timeout 240 "$py" -u -m bnopt bench-gpu --arch vgg16 --width 1.0 --steps 40 --repeats 3 --procs 1 2 4
echo "== the deep linear net on CUDA, alone and stacked (30 seeds), ms per step and run"
timeout 90 "$py" -u -m bnopt bench-train --net dln --steps 100 --warmup 20 --repeats 2 --stack 30 --device cuda \
    --variants standard batchnorm l2
if [ "${1:-}" = all ]; then
    echo "== per-job times of the paper config's VGG-16 runs, CIFAR-shaped random data"
    timeout 180 "$py" -u tests/gpu/jobtimes.py time --resolved "${RESOLVED:-.gpu/paper.json}" --device cuda --steps 300
    echo "== VGG-16 full width, batch 128, CIFAR-shaped random data: bare step / bnopt loop / DataLoader loop"
    timeout 120 "$py" -m bnopt bench-train --arch vgg16 --width 1.0 --steps 50 --repeats 3 --workers 4 --device cuda
    echo "== the deep linear net, every variant (ms per step)"
    timeout 120 "$py" -u -m bnopt bench-train --net dln --steps 100 --warmup 20 --repeats 2 --device cuda
fi
