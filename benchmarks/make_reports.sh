#!/usr/bin/env bash
# Re-make the committed accuracy reports from scratch (run from the repository root).
#   bash benchmarks/make_reports.sh digits   # reports/digits-50: 5 seeds, a few minutes on 2 CPU cores
#   bash benchmarks/make_reports.sh mnist    # reports/mnist-100: 5 seeds of the 125-epoch default and 4 baselines;
#     the SSL runs alone take 2 hours 15 minutes to about 3 hours on 2 CPU cores with bf16 (two at a time,
#     45 to 73 min a pair at 21 to 37 s per epoch each: 21 s in session 12, 31-37 s on 2026-12-01);
#     same-net takes 8 to 12 s per epoch two at a time at one thread (sessions 13 and 16), 17 to 25 min
#     a seed, and far longer niced behind training (75 min for seed 1 in session 12); full 30 to 40 min
#     a seed (13-16 s per epoch beside one fit, 2026-12-01; seeds 2-5 two at a time, 2026-12-06),
#     1 h 30 min to 2 h for its five seeds two at a time (three rounds)
#     (PARALLEL=5 runs all five seeds at once, for a GPU)
#   EPOCHS=10 bash benchmarks/make_reports.sh moments  # reports/moments: 7 generators x 2 seeds with sample
#     quality every 2 epochs, about 75 min;
#     its reading of the numbers, reports/moments/notes.md, is written by hand and kept
#   bash benchmarks/make_reports.sh vectors  # reports/vectors: 4 non-image datasets x 5 seeds x 4 methods, about 30 min
#   bash benchmarks/make_reports.sh fashion  # reports/fashion-mnist-100: dcgan and mlp SSL x 3 seeds, 10 epochs,
#     and 3 baselines, about 2 hours on 2 CPU cores; needs ../shared/data/fashion-mnist.npz (or NPZ=PATH)
#   bash benchmarks/make_reports.sh fashion-default  # reports/fashion-mnist-100-default: the MLP default at its
#     125 epochs x 3 seeds (three at a time) and 4 baselines, about 2 h 30 min on 2 CPU cores; the same data
set -euo pipefail
case "${1:-digits}" in
  digits)
    ssgan fit --config configs/digits.toml --seeds 5 --out runs/digits-50 --quiet
    ssgan baseline --config configs/digits.toml --seeds 5 --method same-net --method logreg --method label-spreading --out runs/digits-50
    ssgan report runs/digits-50 --out reports/digits-50
    ;;
  mnist)
    ssgan fit --labels 100 --seeds 5 --parallel "${PARALLEL:-2}" --out runs/mnist-100 --quiet
    ssgan baseline --labels 100 --seeds 5 --method same-net --method logreg --method label-spreading --out runs/mnist-100
    ssgan baseline --labels 100 --seeds 5 --method full --parallel "${PARALLEL:-2}" --out runs/mnist-100
    ssgan report runs/mnist-100 --out reports/mnist-100 --samples 10000 --notes reports/mnist-100/notes.md
    ;;
  moments)
    for config in configs/moments/*.toml; do
      ssgan fit --config "$config" --seeds 2 --parallel 2 --epochs "${EPOCHS:-10}" --quality-every 2 --out runs/moments --quiet
    done
    ssgan report runs/moments --out reports/moments --notes reports/moments/notes.md
    ;;
  vectors)
    python benchmarks/vector_data.py data/vectors
    # dataset, labels, validation rows (the input-noise rule was chosen on them, seeds 1-3); the
    # schedule and precision the committed report was made with, before the MNIST defaults changed
    old=(--config configs/schedule-60.toml)
    for spec in "moons 6 200" "circles 6 200" "cancer 10 100" "digits 50 300"; do
      read -r name labels val <<< "$spec"
      ssgan fit --dataset "npz:data/vectors/$name.npz" --labels "$labels" --val "$val" --seeds 5 "${old[@]}" \
        --out "runs/vectors-$name" --quiet
      ssgan baseline --dataset "npz:data/vectors/$name.npz" --labels "$labels" --val "$val" --seeds 5 "${old[@]}" \
        --method same-net --method logreg --method label-spreading --out "runs/vectors-$name"
      ssgan report "runs/vectors-$name" --out "reports/vectors/$name"
    done
    python benchmarks/vector_summary.py reports/vectors
    ;;
  fashion)
    python benchmarks/fashion_mnist_layout.py data ${NPZ:+--npz "$NPZ"}
    common=(--data-root data --val 5000 --epochs 10 --out runs/fashion-mnist-100)
    ssgan fit --config configs/fashion-mnist-100.toml --seeds 1,2,3 --parallel 2 --tag ssgan-dcgan "${common[@]}" --quiet
    # the MLP with the MNIST defaults of the time (60-epoch schedule, fp32), cut to 10 epochs
    ssgan fit --config configs/schedule-60.toml --dataset fashion-mnist --seeds 1,2,3 --parallel 2 --tag ssgan-mlp \
      "${common[@]}" --quiet
    ssgan baseline --config configs/fashion-mnist-100.toml --seeds 1,2,3 --method same-net "${common[@]}"
    ssgan baseline --dataset fashion-mnist --seeds 1,2,3 --method logreg --method label-spreading "${common[@]}"
    ssgan report runs/fashion-mnist-100 --out reports/fashion-mnist-100 --notes reports/fashion-mnist-100/notes.md
    ;;
  fashion-default)
    python benchmarks/fashion_mnist_layout.py data ${NPZ:+--npz "$NPZ"}
    common=(--data-root data --val 5000 --seeds 1,2,3 --out runs/fashion-mnist-100-default)
    ssgan fit --dataset fashion-mnist --parallel 3 --tag ssgan-mlp "${common[@]}" --quiet
    ssgan baseline --dataset fashion-mnist --method logreg --method label-spreading "${common[@]}"
    ssgan baseline --run runs/fashion-mnist-100-default --method same-net --method full --parallel 3
    ssgan report runs/fashion-mnist-100-default --out reports/fashion-mnist-100-default \
      --notes reports/fashion-mnist-100-default/notes.md
    ;;
  *) echo "usage: bash benchmarks/make_reports.sh digits|mnist|moments|vectors|fashion|fashion-default" >&2; exit 2 ;;
esac
