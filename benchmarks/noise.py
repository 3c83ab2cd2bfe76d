"""What drawing D's Gaussian noise costs the default step on this machine's CPU, and the highest
fraction of the fp32 matmul rate (issue 11's measure, ``speed.py``) that the step could reach
while it draws its noise as it does today.

    python benchmarks/noise.py [--repeats 20] [--inductor]

It counts the noise the default step draws, shape by shape, by training on 10 and on 20 MNIST
batches with D's noise layers counted and taking the difference (what one more iteration
adds, without the set-up and the data-dependent initialisation). Then, each the best of three
timings of ``--repeats`` iterations' worth:

- ``torch_normal_s``: drawing those shapes as the step does (``torch.normal`` from a CPU
  generator, Mersenne Twister), and ``torch_uniform_s`` the same count of uniform numbers alone,
  the part of a normal draw that the generator makes one number after another;
- ``numpy_<bit generator>_s``: numpy's standard normals (float32, ziggurat) of the same count,
  the other generator at hand;
- ``inductor_normal_s`` (with ``--inductor``): the same shapes drawn, and added to zeros, inside
  a ``torch.compile`` function, whose generated C++ draws from Inductor's own counter-based
  generator (Philox) in parallel loops, the way ``--compile`` would draw them; and
  ``hashed_normal_s``, the same with :func:`hashed_noise` (below), one compiled call a shape;
- ``matmul_s``: the step's matrix products alone, as ``speed.py`` times them, and
  ``overlapped_s``: those products and the noise at once, the noise drawn in a second thread
  (the one way to hide it without changing its numbers), against ``sequential_s``, the sum.

``ceiling_fraction`` = matmul_s / (matmul_s + torch_normal_s): the fraction of the matmul rate
that the step reaches if nothing but its products and its noise took time. A ceiling under 0.8
says that issue 11's 80 % needs another way of drawing the noise on this CPU, which changes the
random stream.

Then the one such way that torch's own generator allows, and what it and the noise are worth
inside the step: ``split_s`` draws every shape in two halves at once, from two generators in
two threads (other numbers than the step draws, from the same distribution); ``step_s``,
``step_split_s``, ``step_ahead_s`` and ``step_noise_free_s`` time the default fp32 step as
``speed.py`` does (its ``train`` on ``--iterations`` batches after a 10-batch warm-up), with its
noise as today, drawn that way, drawn ahead (a second thread with a generator of its own draws
each layer's next noise while the step computes, so that the draws can use what the step's
small, one-thread operators leave of the second core) and not drawn at all (D's noise layers
add nothing: a bound, not a step anyone should train), in turn ``--rounds`` times, each round
after its own matmul rate (``*_fraction``: the fraction of it, medians over the rounds; every
round under ``rounds``). With ``--inductor`` the rounds also time ``step_hashed_s``: the noise of
a generator of the kind ssgan would need to write for itself, a counter hash (``lowbias32``, two
rounds for a pair of uniform numbers, Box-Muller's cosine) that Inductor compiles into one C++
loop with the layer's addition, with no sequential state, so that both cores draw and no pass
over memory is spent on the noise alone. It is a timing of that cost, not a generator to train
with: its draws are keyed by a 32-bit counter (a long run's keys would come close enough for
two draws to share hashed indices) and nothing checks their statistics beyond the first four
moments. One JSON line, whose ``environment`` records the machine and software
as a run folder's ``environment.jsonl`` does (and whether ``ssgan/`` or ``benchmarks/`` had
uncommitted edits).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch
from speed import matmul_rate, seconds_per_iteration, step_gflop, step_matmuls

import ssgan.models.layers as layers
from ssgan.compiling import prepare_compile
from ssgan.config import Config
from ssgan.data import Dataset, load_mnist
from ssgan.splits import make_split
from ssgan.train import train
from options import benchmark_environment, count, run_script


def noise_shapes(cfg: Config) -> Counter:
    """The shapes of the noise that one iteration of ``cfg``'s step draws, with their counts."""
    drawn: Counter = Counter()
    forward = layers.GaussianNoise.forward

    def counted(self, x):
        if self.training and self.std > 0:
            drawn[tuple(x.shape)] += 1
        return forward(self, x)

    mnist = load_mnist()
    per_run = []
    layers.GaussianNoise.forward = counted
    try:
        for batches in (10, 20):
            drawn.clear()
            n = batches * cfg.batch_size
            data = Dataset("bench", mnist.x_train[:n], mnist.y_train[:n], None, None, 10)
            train(cfg, data, make_split(data, 100, 1))
            per_run.append(Counter(drawn))
    finally:
        layers.GaussianNoise.forward = forward
    more = per_run[1]
    more.subtract(per_run[0])
    return Counter({shape: count // 10 for shape, count in more.items() if count > 0})


AHEAD = 3  # draws kept ready per shape: the most times one shape is drawn in one pass (300x250, D's three)


def _mix(h):
    """lowbias32 (C. Wellons' integer hash) on int32 tensors: shifts masked to act as logical ones,
    products wrapping as unsigned ones would."""
    h = h ^ ((h >> 16) & 0xFFFF)
    h = h * 0x7FEB352D
    h = h ^ ((h >> 15) & 0x1FFFF)
    h = h * -0x7B935975  # 0x846CA68B as a signed 32-bit number
    return h ^ ((h >> 16) & 0xFFFF)


def hashed_noise(x, key, std: float):
    """``x`` plus N(0, std^2) noise made from a counter hash of each element's index and ``key``
    (an int32 tensor): two hashed words give two uniform numbers, Box-Muller's cosine one normal."""
    first = _mix(torch.arange(x.numel(), dtype=torch.int32, device=x.device).view(x.shape) + key)
    second = _mix(first ^ -0x61C88647)  # (the golden ratio's 32 bits, 0x9E3779B9)
    u1 = (((first >> 8) & 0xFFFFFF).to(torch.float32) + 0.5) * 2.0 ** -24
    u2 = ((second >> 8) & 0xFFFFFF).to(torch.float32) * 2.0 ** -24
    return x + (std * torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2 * math.pi * u2)).to(x.dtype)


def compiled_hashed_noise():
    """:func:`hashed_noise` through Inductor (``torch.compile``, one compiled variant per shape
    and scale: more than torch's default 8, which ``prepare_compile`` allows, and its note that
    there is no CUDA runtime silenced)."""
    prepare_compile()
    return torch.compile(hashed_noise, dynamic=False)


@contextmanager
def noise_drawn(how: str):
    """D's noise layers draw as the step does (``as-is``), each draw in two halves from two
    generators in two threads (``split``), ahead (``ahead``: a second thread draws each layer's
    next noise while the step goes on, :data:`AHEAD` of each shape kept ready, so that the
    draws can fill the time in which the step's small operators leave a core idle), from
    :func:`hashed_noise` compiled by Inductor (``hashed``, each draw keyed by a counter), or not
    at all (``none``)."""
    forward = layers.GaussianNoise.forward
    generators = [torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)]
    pool = ThreadPoolExecutor(1)
    ready: dict[tuple, deque] = {}  # (shape, dtype, std) -> the drawer's futures, oldest first

    def split(self, x):
        if not self.training or self.std <= 0:
            return x
        noise = torch.empty(x.shape, dtype=x.dtype)
        flat = noise.view(-1)
        half = flat.numel() // 2
        other = pool.submit(flat[half:].normal_, 0.0, self.std, generator=generators[1])
        flat[:half].normal_(0.0, self.std, generator=generators[0])
        other.result()
        return x + noise

    def ahead(self, x):
        if not self.training or self.std <= 0:
            return x
        key = (tuple(x.shape), x.dtype, self.std)
        queue = ready.setdefault(key, deque())
        while len(queue) < AHEAD + 1:
            queue.append(pool.submit(torch.normal, 0.0, self.std, key[0], dtype=x.dtype, generator=generators[1]))
        return x + queue.popleft().result()

    compiled = compiled_hashed_noise() if how == "hashed" else None
    draws = iter(range(1, 2**31))

    def hashed(self, x):
        if not self.training or self.std <= 0:
            return x
        key = torch.tensor(next(draws) * 0x9E3779B1 % 2**32 - 2**31, dtype=torch.int32)
        return compiled(x, key, self.std)

    layers.GaussianNoise.forward = {"as-is": forward, "split": split, "ahead": ahead, "hashed": hashed,
                                    "none": lambda self, x: x}[how]
    try:
        yield
    finally:
        layers.GaussianNoise.forward = forward
        pool.shutdown()


def best_of_three(work, repeats: int) -> float:
    """Seconds per call of ``work``, the best of three timings of ``repeats`` calls (after two)."""
    work(), work()
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeats):
            work()
        best = min(best, (time.perf_counter() - t0) / repeats)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=count, default=20, help="iterations' worth per timing")
    p.add_argument("--iterations", type=count, default=60, help="iterations of each step timing")
    p.add_argument("--rounds", type=count, default=3, help="rounds of the step timings")
    p.add_argument("--inductor", action="store_true",
                   help="also time torch.compile's own generator, and a counter hash alone and inside the step (compiles first)")
    args = p.parse_args()
    cfg = Config(epochs=1, device="cpu", precision="fp32", graphs="off")
    shapes = noise_shapes(cfg)
    numbers = sum(math.prod(shape) * count for shape, count in shapes.items())
    generator = torch.Generator().manual_seed(0)
    draws = [shape for shape, count in shapes.items() for _ in range(count)]

    def torch_noise():
        for shape in draws:
            torch.normal(0.0, 0.5, shape, generator=generator)

    def torch_uniform():
        for shape in draws:
            torch.rand(shape, generator=generator)

    out = {"threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
           "environment": benchmark_environment("cpu"),
           "noise_shapes": {"x".join(map(str, s)): c for s, c in sorted(shapes.items())},
           "numbers_per_iteration": numbers,
           "torch_normal_s": best_of_three(torch_noise, args.repeats),
           "torch_uniform_s": best_of_three(torch_uniform, args.repeats)}
    for name in ("PCG64", "SFC64", "Philox"):
        rng = np.random.Generator(getattr(np.random, name)(0))
        buffer = np.empty(numbers, dtype=np.float32)
        out[f"numpy_{name}_s"] = best_of_three(lambda: rng.standard_normal(numbers, dtype=np.float32, out=buffer),
                                               args.repeats)
    if args.inductor:
        prepare_compile()  # (as --compile: Inductor's note that there is no CUDA runtime silenced)

        @torch.compile(dynamic=False)
        def inductor_noise(zeros):
            return [z + torch.randn_like(z) * 0.5 for z in zeros]

        zeros = [torch.zeros(shape) for shape in draws]
        out["inductor_normal_s"] = best_of_three(lambda: inductor_noise(zeros), args.repeats)
        hashed = compiled_hashed_noise()
        keys = [torch.tensor(k, dtype=torch.int32) for k in range(len(zeros))]
        out["hashed_normal_s"] = best_of_three(lambda: [hashed(z, k, 0.5) for z, k in zip(zeros, keys)],
                                               args.repeats)
    rate = matmul_rate(cfg, torch.device("cpu"))
    out["matmul_gflops"] = rate
    out["matmul_s"] = step_gflop(cfg) / rate
    out["sequential_s"] = out["matmul_s"] + out["torch_normal_s"]
    products = step_matmuls(cfg, torch.device("cpu"))

    def together():
        drawer = threading.Thread(target=torch_noise)
        drawer.start()
        products()
        drawer.join()

    out["overlapped_s"] = best_of_three(together, args.repeats)
    out["ceiling_fraction"] = out["matmul_s"] / out["sequential_s"]
    halves = [torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)]
    with ThreadPoolExecutor(1) as pool:
        def split_noise():
            for shape in draws:
                flat = torch.empty(shape).view(-1)
                half = flat.numel() // 2
                other = pool.submit(flat[half:].normal_, 0.0, 0.5, generator=halves[1])
                flat[:half].normal_(0.0, 0.5, generator=halves[0])
                other.result()

        out["split_s"] = best_of_three(split_noise, args.repeats)
    rounds = []
    for _ in range(args.rounds):
        rate = matmul_rate(cfg, torch.device("cpu"))
        row = {"matmul_gflops": rate}
        for how, key in (("as-is", "step"), ("split", "step_split"), ("ahead", "step_ahead"),
                         *((("hashed", "step_hashed"),) if args.inductor else ()), ("none", "step_noise_free")):
            with noise_drawn(how):
                row[f"{key}_s"] = seconds_per_iteration(cfg, args.iterations)
            row[f"{key}_fraction"] = step_gflop(cfg) / row[f"{key}_s"] / rate
        rounds.append({k: round(v, 5) for k, v in row.items()})
    for key in rounds[0]:
        out[key] = statistics.median(r[key] for r in rounds)
    out["rounds"] = rounds
    print(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in out.items()}), flush=True)


if __name__ == "__main__":
    run_script(main)
