"""Seconds per iteration of S seeds of the default MNIST networks: one after the other, each
its own step (what ``--parallel`` runs side by side at best overlap), against stacked into one
step (``ssgan.batched``: each layer one batched matrix product for all seeds).

    python benchmarks/batched_seeds.py [--device cpu|cuda] [--seeds 1,2,4,10] [--iterations 50]
                                       [--precision fp32,bf16]

For each S and precision it prints one JSON line: ``sequential_s`` (one iteration of every seed,
a D and a G step each, one seed after the other), ``stacked_s`` (the same iteration with the
seeds stacked) and their ratio ``speedup``. On CUDA each is timed eagerly and as CUDA graphs
(``*_graphs_s``: one graph per seed replayed in turn, against one graph of the stacked step);
the graphs are what ``ssgan fit --graphs auto`` replays, so the graphs' speedup is the one that
says what stacking the seeds of ``--seeds 1-10`` would gain over running them in turn. Threads
on one GPU can overlap the seeds' kernels, which this does not time: ``gpu_check.sh`` measures
``--parallel-mode threads`` itself.

The step is the training step of ``ssgan fit`` (``steps.py`` for one seed, ``batched.py``
stacked), on fixed random batches (timing does not depend on the pixels), after 3 warm-up
iterations; G's noise is drawn in the step, D's noise and dropout as the defaults set them.
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial

import torch
from torch.optim.swa_utils import AveragedModel

from ssgan import batched, graphs
from ssgan.config import resolve
from ssgan.diagnostics import HistoricalAverage
from ssgan.graphs import DeviceEMA
from ssgan.models import build_models, resolve_arch
from ssgan.models.layers import data_dependent_init
from ssgan.steps import Nets, discriminator_step, generator_step
from ssgan.train import _ema_update, _optimizer, resolve_device
from options import count, run_script

SHAPE = (1, 28, 28)
WARMUP = 3  # untimed iterations before timing (the capture's own warm-up is ssgan.graphs.WARMUP)


def seed_nets(cfg, seed: int, device: torch.device) -> Nets:
    """One seed's networks as ``ssgan fit`` builds them (data-dependent init on random pixels)."""
    torch.manual_seed(seed)
    G, D = build_models(cfg, SHAPE, 10)
    G.to(device), D.to(device)
    D.train()
    data_dependent_init(D, torch.rand(cfg.init_batch, *SHAPE, device=device))
    ema = AveragedModel(D, multi_avg_fn=_ema_update(cfg.ema_decay), use_buffers=True)
    return Nets(G, D, G, D, ema, _optimizer(cfg, D.parameters(), cfg.lr_d, cfg.beta1_d),
                _optimizer(cfg, G.parameters(), cfg.lr_g, cfg.beta1_g), HistoricalAverage([], 0.0),
                HistoricalAverage([], 0.0))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, iterations: int, device: torch.device) -> float:
    for _ in range(WARMUP):
        fn()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(iterations):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / iterations


def captured(step, nets_list: list[Nets], cfg, device: torch.device):
    """``step`` recorded as a CUDA graph after a warm-up (on a side stream), Adam capturable and
    the EMA updated on the device, as ``ssgan.graphs`` does; returns the replay. (On the CPU only
    under ``ssgan.graphsim.simulate``, which the test of this script uses.)"""
    for nets in nets_list:
        for opt in (nets.opt_d, nets.opt_g):
            graphs.to_capturable(opt, device)
        nets.ema_update = DeviceEMA(nets.ema, nets.D, cfg.ema_decay).update
    side = graphs.side_stream(device)
    with graphs.on_side(side):
        for _ in range(graphs.WARMUP):
            step()
    return graphs.record(step, stream=side).replay


def iterations_to_time(cfg, s: int, device: torch.device, as_graphs: bool):
    """``(sequential, stacked, seeds, stack)``: one iteration of ``s`` seeds one after the other
    (each seed's step, or its graph's replay) and stacked (the step, or its replay), and the
    networks they train: the seeds' own ``Nets`` and the stacked one."""
    bs = cfg.batch_size
    bf16 = cfg.precision == "bf16"
    amp = partial(torch.autocast, device.type, dtype=torch.bfloat16, enabled=bf16, cache_enabled=not as_graphs)
    gen = torch.Generator(device=device).manual_seed(0)
    xl, xu, xr = (torch.rand(s, bs, *SHAPE, device=device, generator=gen) for _ in range(3))
    yl = torch.randint(0, 10, (s, bs), device=device, generator=gen)
    seeds = [seed_nets(cfg, k + 1, device) for k in range(s)]
    stack = batched.stack_nets(cfg, [seed_nets(cfg, k + 1, device) for k in range(s)])

    def one(k: int, nets: Nets) -> None:
        discriminator_step(cfg, nets, xl[k], yl[k], xu[k], nets.G.sample_z(bs, device=device), amp)
        generator_step(cfg, nets, xr[k], nets.G.sample_z(bs, device=device), amp)

    def stacked() -> None:
        z = seeds[0].G.sample_z(s * bs, device=device).view(s, bs, -1)
        batched.discriminator_step(cfg, stack, xl, yl, xu, z, amp)
        z = seeds[0].G.sample_z(s * bs, device=device).view(s, bs, -1)
        batched.generator_step(cfg, stack, xr, z, amp)

    if not as_graphs:
        return (lambda: [one(k, nets) for k, nets in enumerate(seeds)]), stacked, seeds, stack
    replays = [captured(partial(one, k, nets), [nets], cfg, device) for k, nets in enumerate(seeds)]
    return (lambda: [replay() for replay in replays]), captured(stacked, [stack], cfg, device), seeds, stack


def measure(cfg, s: int, iterations: int, device: torch.device, as_graphs: bool) -> tuple[float, float]:
    """Seconds per iteration of ``s`` seeds, one after the other and stacked."""
    sequential, stacked, _, _ = iterations_to_time(cfg, s, device, as_graphs)
    return timed(sequential, iterations, device), timed(stacked, iterations, device)


def counts(text: str) -> list[int]:
    """``--seeds``: the numbers of seeds to stack, each 1 or more."""
    return [count(v) for v in text.split(",")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--seeds", type=counts, default="1,2,4,10", help="comma-separated numbers of seeds S")
    p.add_argument("--iterations", type=count, default=50)
    p.add_argument("--precision", default="fp32,bf16")
    args = p.parse_args()
    device = resolve_device(args.device)
    for precision in args.precision.split(","):
        cfg = resolve_arch(resolve(precision=precision), SHAPE)
        for s in args.seeds:
            row = {"device": str(device), "precision": precision, "seeds": s, "iterations": args.iterations}
            sequential, stacked = measure(cfg, s, args.iterations, device, as_graphs=False)
            row.update(sequential_s=round(sequential, 5), stacked_s=round(stacked, 5),
                       speedup=round(sequential / stacked, 2))
            if device.type == "cuda":
                sequential, stacked = measure(cfg, s, args.iterations, device, as_graphs=True)
                row.update(sequential_graphs_s=round(sequential, 5), stacked_graphs_s=round(stacked, 5),
                           graphs_speedup=round(sequential / stacked, 2))
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    run_script(main)
