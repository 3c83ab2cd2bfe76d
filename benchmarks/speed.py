"""Seconds per training iteration of the default MNIST models, the arithmetic rate they reach,
and, in the same run, the rate at which this machine multiplies the step's own matrices; with
``--arch``, seconds per iteration of each network family.

    python benchmarks/speed.py [--device cpu|cuda] [--iterations 200] [--precision fp32,bf16] [--rounds 5] [--compile]
    python benchmarks/speed.py --config FILE.toml ...   (the step with other training settings)
    python benchmarks/speed.py --arch dcgan,salimans-cnn --shape 1x28x28,3x32x32 --iterations 20

On CUDA each precision is timed eagerly and as CUDA graphs (``*_graphs_*`` keys; the capture,
three warm-up iterations and the recording, counts in the time); ``--arch`` times the graphs.
On CUDA ``tf32`` may be among the precisions: a probe, not an option of ``ssgan fit``, that
times the fp32 step with its matrix products on TF32 tensor cores
(``torch.set_float32_matmul_precision("high")`` while it runs; cuDNN's convolutions already
use TF32 by default), so that a GPU session learns what that would give before anyone builds it.
``--compile`` times each of those again with the networks compiled (``ssgan fit --compile``;
``*_compiled_*`` keys); the 10-batch warm-up run compiles them, so the timed run mostly does not.
``--config FILE`` times the step with the training settings of a TOML file, as ``ssgan fit
--config`` reads it (``consistency_weight = 10.0``, say); the line records them as ``config``.
Its work is counted as below, for its networks: a setting that adds work to the step (the
consistency term's second pass of D) shows as a lower rate.

One iteration is one discriminator step and one generator step at batch 100. Its work is
counted as the step is defined (the issue's convention, so that skipping work shows up as a
higher rate): D forward and backward on the 300 examples of the D step, plus G forward on the
100 generated ones; in the G step, G forward and backward, D forward and backward on 100
generated examples and D forward on 100 real ones; backward = 2 x forward. For the default
networks that is 4.55 GFLOP.

The matmul rate is measured by timing, alone and back to back, every matrix product of that
count (forward, input-gradient and weight-gradient products of each dense layer at its batch
size), the best of three timings of 50 passes: the best the step could do if nothing but its
matrix products cost time. The step's time is one average over its iterations (and the
set-up of its ``train`` call, about 1 % of 200 iterations here), so the ratio errs low. The ratio
``fraction_of_matmul_rate`` compares across machines; it is taken against the fp32 rate for
every precision (the issue's measure). With bf16 among the precisions the same products are
also timed in bf16, and ``bf16_fraction_of_bf16_matmul_rate`` says how close the bf16 step
comes to the rate of its own matrix products. Training runs on 100 x iterations MNIST images
with no test set (the first of each class, then the second of each, and so on, so that any
count of iterations holds the labeled split), after a warm-up of 10 iterations.

A machine whose speed drifts from minute to minute (a shared 2-core CPU) moves the fraction by
itself, so each step is compared with matrix products timed just before it (seconds apart),
and ``--rounds R`` repeats the whole measurement R times: the output gives every round's
figures (``*_per_round``) and, under the plain keys, their medians, a fraction being the
median of the rounds' own fractions. ``environment`` records the machine and software as a run
folder's ``environment.jsonl`` does (the CPU, its dispatch level and native bf16 or AMX, the
GPU, torch, the commit), so that a line compares with others wherever it was made.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from contextlib import contextmanager

import numpy as np
import torch

from ssgan.config import Config, load_toml, resolve
from ssgan.data import Dataset, load_mnist
from ssgan.models import WNLinear, build_models
from ssgan.splits import make_split
from ssgan.train import Reporter, resolve_device, resolve_precision, train
from options import benchmark_environment, count, run_script


def dense_shapes(module: torch.nn.Module) -> list[tuple[int, int]]:
    """(in, out) of every dense layer of a network."""
    shapes = []
    for m in module.modules():
        if isinstance(m, WNLinear):
            shapes.append((m.v.shape[1], m.v.shape[0]))
        elif isinstance(m, torch.nn.Linear):
            shapes.append((m.in_features, m.out_features))
    return shapes


def step_products(cfg: Config) -> list[tuple[int, int, int, int]]:
    """Every matrix product of one iteration as (m, k, n, count): (m, k) @ (k, n), count times."""
    g, d = build_models(cfg, (1, 28, 28), 10)
    bs = cfg.batch_size
    # (network, batch, forward passes, backward passes) of one iteration, as the docstring counts
    passes = [(d, 3 * bs, 1, 1), (g, bs, 1, 0),  # D step
              (g, bs, 1, 1), (d, bs, 1, 1), (d, bs, 1, 0)]  # G step
    products = []
    for net, batch, fwd, bwd in passes:
        for k, n in dense_shapes(net):
            products.append((batch, k, n, fwd))  # y = x W^T
            if bwd:
                products.append((batch, n, k, bwd))  # dx = dy W
                products.append((n, batch, k, bwd))  # dW = dy^T x
    return products


def step_gflop(cfg: Config) -> float:
    return sum(2 * m * k * n * c for m, k, n, c in step_products(cfg)) / 1e9


def step_matmuls(cfg: Config, device: torch.device, dtype: torch.dtype = torch.float32):
    """A function that computes every matrix product of one iteration once, on random matrices."""
    mats = [(torch.randn(m, k, device=device, dtype=dtype), torch.randn(k, n, device=device, dtype=dtype), c)
            for m, k, n, c in step_products(cfg)]

    def once():
        for a, b, c in mats:
            for _ in range(c):
                torch.mm(a, b)

    return once


def matmul_rate(cfg: Config, device: torch.device, repeats: int = 50, dtype: torch.dtype = torch.float32) -> float:
    """GFLOP/s of the step's matrix products alone, best of three timings of ``repeats`` passes."""
    once = step_matmuls(cfg, device, dtype)
    for _ in range(5):
        once()
    best = math.inf
    for _ in range(3):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            once()
        _sync(device)
        best = min(best, (time.perf_counter() - t0) / repeats)
    return step_gflop(cfg) / best


@contextmanager
def matmul_precision(precision: str):
    """TF32 matrix products for the ``tf32`` probe (see the module's docstring), fp32 otherwise."""
    before = torch.get_float32_matmul_precision()
    if precision == "tf32":
        torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_data(cfg: Config, iterations: int, shape: tuple[int, ...] = (1, 28, 28)) -> tuple[Dataset, Dataset]:
    """The data of a timed ``train`` call on ``iterations`` batches, and of its 10-batch warm-up:
    MNIST images for 1x28x28, the first of each class, then the second of each, and so on, so
    that a single batch holds the labeled split's 10 of each class; random pixels of ``shape``
    otherwise (speed does not read them).

    >>> data, warm = bench_data(Config(epochs=1), 1)
    >>> len(data.x_train), len(warm.x_train), set(np.bincount(data.y_train).tolist())
    (100, 1000, {10})
    """
    n = cfg.batch_size * max(iterations, 10)
    if shape == (1, 28, 28):
        mnist = load_mnist()
        rank = np.empty(len(mnist.y_train), dtype=np.int64)  # each image's place among its class's
        for c in np.unique(mnist.y_train):
            where = np.flatnonzero(mnist.y_train == c)
            rank[where] = np.arange(len(where))
        order = np.lexsort((mnist.y_train, rank))[:n]  # by that place, then by class
        x, y = mnist.x_train[order], mnist.y_train[order]
    else:
        rng = np.random.default_rng(0)
        x, y = rng.random((n, *shape), dtype=np.float32), np.arange(n) % 10
    m, w = cfg.batch_size * iterations, cfg.batch_size * 10
    return Dataset("bench", x[:m], y[:m], None, None, 10), Dataset("bench", x[:w], y[:w], None, None, 10)


def seconds_per_iteration(cfg: Config, iterations: int, shape: tuple[int, ...] = (1, 28, 28),
                          reporter: Reporter | None = None) -> float:
    """Wall seconds per iteration of ``train`` on ``iterations`` batches (after a 10-batch warm-up)
    of :func:`bench_data`; ``reporter`` hears the timed call (``profile_step.py`` profiles through it)."""
    data, warm = bench_data(cfg, iterations, shape)
    train(cfg, warm, make_split(warm, 100, 1))
    t0 = time.perf_counter()
    train(cfg, data, make_split(data, 100, 1), reporter=reporter)
    return (time.perf_counter() - t0) / iterations


def shapes(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """``--shape``: each CxHxW of the comma-separated list, as written and as numbers."""
    out = []
    for item in text.split(","):
        try:
            shape = tuple(int(v) for v in item.split("x"))
        except ValueError:
            shape = ()
        if len(shape) != 3 or min(shape) < 1:
            raise argparse.ArgumentTypeError(f"give CxHxW shapes like 1x28x28,3x32x32, got {item!r}")
        out.append((item, shape))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--iterations", type=count, default=200)
    p.add_argument("--precision", default=None, help="comma-separated: fp32, bf16, and on CUDA tf32 (a probe: fp32 "
                                                       "with TF32 matrix products) [fp32,bf16; fp32 alone on a CPU "
                                                       "without native bf16, which emulates it slowly]")
    p.add_argument("--rounds", type=count, default=1, help="repeat the rate analysis this many times, each round "
                                                          "pairing its matmul rate with its own step timings")
    p.add_argument("--arch", default=None, help="comma-separated families (mlp, dcgan, salimans-cnn): time each "
                                                "at every --shape instead of the default step's rate analysis")
    p.add_argument("--shape", type=shapes, default="1x28x28,3x32x32", help="comma-separated CxHxW shapes for --arch")
    p.add_argument("--compile", action="store_true", help="also time every precision and mode with the networks "
                                                           "compiled (torch.compile)")
    p.add_argument("--config", default=None, help="TOML file of training settings for the timed step, as ssgan fit "
                                                  "--config reads it (work counted as below, for its networks)")
    args = p.parse_args()
    device = resolve_device(args.device)
    if args.precision is None:  # (bf16 on an AVX2 CPU: the README's command had not finished in 15 minutes)
        native = device.type != "cpu" or resolve_precision("auto", device) == "bf16"
        args.precision = "fp32,bf16" if native else "fp32"
    if "tf32" in args.precision.split(",") and device.type != "cuda":
        p.error(f"--precision tf32 is a CUDA probe (TF32 tensor cores), and this run uses {device.type}")
    base = resolve(args.config, epochs=1, device=str(device), sample_every=1, graphs="off")
    machine = benchmark_environment(device)  # (once: each line of the run carries the same record)
    if args.arch:
        for arch in args.arch.split(","):
            for text, shape in args.shape:
                cfg = base.replace(arch=arch, graphs="on" if device.type == "cuda" else "off")
                out = {"arch": arch, "shape": text, "device": str(device), "threads": torch.get_num_threads(),
                       "iterations": args.iterations, "environment": machine}
                for precision in args.precision.split(","):
                    s = seconds_per_iteration(cfg.replace(precision=precision), args.iterations, shape)
                    out[f"{precision}_s_per_iteration"] = round(s, 4)
                    # an epoch of MNIST-sized (60,000) or CIFAR-sized (50,000) data at batch 100
                    n = 60000 if shape[-1] == 28 else 50000
                    out[f"{precision}_s_per_epoch_of_{n}"] = round(s * n / cfg.batch_size, 1)
                print(json.dumps(out), flush=True)
        return
    gflop = step_gflop(base)
    out = {"device": str(device), "threads": torch.get_num_threads(), "iterations": args.iterations,
           "rounds": args.rounds, "step_gflop": round(gflop, 3), "environment": machine}
    if args.config is not None:
        out["config"] = load_toml(args.config)
    precisions = args.precision.split(",")
    modes = ["off", "on"] if device.type == "cuda" else ["off"]  # CUDA graphs exist on CUDA only
    modes = [(graphs, compiled) for compiled in ([False, True] if args.compile else [False]) for graphs in modes]
    rounds = [one_round(base, device, precisions, modes, args.iterations, gflop) for _ in range(args.rounds)]
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        digits = 4 if key.endswith("s_per_iteration") else 3 if "fraction" in key else 1
        out[key] = round(statistics.median(values), digits)
        if args.rounds > 1:
            out[key + "_per_round"] = [round(v, digits) for v in values]
    print(json.dumps(out))


def one_round(base: Config, device: torch.device, precisions: list[str], modes: list[tuple[str, bool]],
              iterations: int, gflop: float) -> dict[str, float]:
    """Every precision and mode's step, each timed right after the matmul rates it is compared with
    (the fp32 rate, and the bf16 rate for a bf16 step); the round's rates are the means of those
    timings."""
    out, rates = {}, {"fp32": [], "bf16": [], "tf32": []}
    for precision in precisions:
        for graphs, compiled in modes:
            rate = matmul_rate(base, device)
            rates["fp32"].append(rate)
            if precision == "bf16":
                rate_bf16 = matmul_rate(base, device, dtype=torch.bfloat16)
                rates["bf16"].append(rate_bf16)
            with matmul_precision(precision):
                if precision == "tf32":
                    rates["tf32"].append(matmul_rate(base, device))
                cfg = base.replace(precision="fp32" if precision == "tf32" else precision, graphs=graphs,
                                   compile=compiled)
                s = seconds_per_iteration(cfg, iterations)
            name = precision + ("_graphs" if graphs == "on" else "") + ("_compiled" if compiled else "")
            out[f"{name}_s_per_iteration"] = s
            out[f"{name}_gflops"] = gflop / s
            out[f"{name}_fraction_of_matmul_rate"] = gflop / s / rate
            if precision == "bf16":
                out[f"{name}_fraction_of_bf16_matmul_rate"] = gflop / s / rate_bf16
    return {**{f"matmul_gflops_{k}": statistics.mean(v) for k, v in rates.items() if v}, **out}


if __name__ == "__main__":
    run_script(main)
