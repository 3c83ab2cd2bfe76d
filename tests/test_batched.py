"""Seeds stacked into one step (ssgan.batched): each seed follows the trajectory it follows
alone, its state goes in and out of the stack whole, and each seed draws its own noise."""

import copy
from contextlib import nullcontext
from functools import partial

import pytest
import torch
from torch.func import vmap
from torch.optim.swa_utils import AveragedModel

from ssgan import batched
from ssgan.config import resolve
from ssgan.diagnostics import HistoricalAverage
from ssgan.graphs import DeviceEMA
from ssgan.graphsim import TracedGraph, _lr_as_tensor, simulate
from ssgan.models import build_models, resolve_arch
from ssgan.models.layers import data_dependent_init
from ssgan.steps import Nets, discriminator_step, generator_step
from ssgan.train import _ema_update, _optimizer

SHAPE = (1, 8, 8)
QUIET_D = {"d_input_noise": 0.0, "d_hidden_noise": 0.0}


def _cfg(**options):
    return resolve_arch(resolve(dataset="digits", **options), SHAPE)


def _nets(cfg, seed: int, dtype=torch.float32) -> Nets:
    torch.manual_seed(seed)
    G, D = (net.to(dtype) for net in build_models(cfg, SHAPE, 10))
    D.train()
    data_dependent_init(D, torch.rand(100, *SHAPE, dtype=dtype))
    ema = AveragedModel(D, multi_avg_fn=_ema_update(cfg.ema_decay), use_buffers=True)
    return Nets(G, D, G, D, ema, _optimizer(cfg, D.parameters(), cfg.lr_d, cfg.beta1_d),
                _optimizer(cfg, G.parameters(), cfg.lr_g, cfg.beta1_g), HistoricalAverage([], 0.0),
                HistoricalAverage([], 0.0))


def _batches(s: int, gen: torch.Generator, dtype=torch.float32):
    """Stacked batches of ``s`` seeds: labeled x and y, unlabeled x, G's noise twice, a real batch."""
    x = partial(torch.rand, generator=gen, dtype=dtype)
    return (x(s, 30, *SHAPE), torch.randint(0, 10, (s, 30), generator=gen), x(s, 30, *SHAPE), x(s, 30, 100),
            x(s, 30, 100), x(s, 30, *SHAPE))


def _alone(cfg, seeds: list[Nets], batches, amp=nullcontext) -> list[dict]:
    xl, yl, xu, zd, zg, xr = batches
    values = []
    for s, nets in enumerate(seeds):
        v = discriminator_step(cfg, nets, xl[s], yl[s], xu[s], zd[s], amp)
        v.update(generator_step(cfg, nets, xr[s], zg[s], amp))
        values.append(v)
    return values


def _stacked(cfg, stacked: Nets, batches, amp=nullcontext) -> dict:
    xl, yl, xu, zd, zg, xr = batches
    values = batched.discriminator_step(cfg, stacked, xl, yl, xu, zd, amp)
    values.update(batched.generator_step(cfg, stacked, xr, zg, amp))
    return values


def _states(nets: Nets) -> dict[str, torch.Tensor]:
    """Every tensor a step changes: the weights, the EMA, its count and both Adam states."""
    out = {f"G.{k}": v for k, v in nets.G.state_dict().items()}
    out.update({f"D.{k}": v for k, v in nets.D.state_dict().items()})
    out.update({f"ema.{k}": v for k, v in nets.ema.state_dict().items()})
    for name, opt in (("opt_d", nets.opt_d), ("opt_g", nets.opt_g)):
        for i, state in enumerate(opt.state_dict()["state"].values()):
            out.update({f"{name}.{i}.{k}": v for k, v in state.items()})
    return out


def _assert_states_close(a: Nets, b: Nets, rtol: float, atol: float) -> None:
    """Every tensor of b close to a's, ``atol`` relative to the largest entry of a's."""
    sa, sb = _states(a), _states(b)
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sb[k], sa[k], rtol=rtol, atol=atol * float(sa[k].abs().max()),
                                   msg=lambda m: f"{k}: {m}")


def test_stacked_seeds_follow_the_trajectories_they_follow_alone():
    """Three seeds, two steps each alone, then stacked (Adam's and the EMA's state go in) for
    four more steps against four more alone: the same weights, EMAs and Adam states, and each
    seed's metrics, up to rounding (float64 networks, losses in float32). G has batch norm,
    whose running statistics are buffers of the stack; the default entropy term acts."""
    cfg = _cfg(**QUIET_D)
    assert cfg.entropy_weight > 0 and cfg.g_norm == "batch"
    alone = [_nets(cfg, s, torch.float64) for s in range(3)]
    gen = torch.Generator().manual_seed(0)
    batches = [_batches(3, gen, torch.float64) for _ in range(6)]
    for b in batches[:2]:
        _alone(cfg, alone, b)
    to_stack = copy.deepcopy(alone)
    stacked = batched.stack_nets(cfg, to_stack)
    for b in batches[2:]:
        values = _alone(cfg, alone, b)
        stacked_values = _stacked(cfg, stacked, b)
    assert set(stacked_values) <= set(values[0]) and {"loss_lab", "loss_unl", "loss_gen"} <= set(stacked_values)
    for k, v in stacked_values.items():
        assert v.shape == (3,)
        assert v.tolist() == pytest.approx([float(vals[k]) for vals in values], rel=1e-5, abs=1e-6), k
    after = [_nets(cfg, 10 + s, torch.float64) for s in range(3)]  # other weights, overwritten
    batched.unstack_into(stacked, after)
    for a, b in zip(alone, after):
        assert int(b.ema.n_averaged) == int(a.ema.n_averaged) == 6
        _assert_states_close(a, b, rtol=1e-5, atol=1e-6)
    # a control: the seeds are apart, so another seed's state is not close
    with pytest.raises(AssertionError):
        _assert_states_close(alone[0], after[1], rtol=1e-5, atol=1e-6)


def test_stack_and_unstack_return_every_tensor_unchanged():
    cfg = _cfg()
    seeds = [_nets(cfg, s) for s in range(2)]
    _alone(cfg, seeds, _batches(2, torch.Generator().manual_seed(1)))  # Adam and the EMA have state
    before = [_states(n) for n in seeds]
    stacked = batched.stack_nets(cfg, seeds)
    member = stacked.D.member(1)
    assert all(torch.equal(member.state_dict()[k], seeds[1].D.state_dict()[k]) for k in member.state_dict())
    copies = [_nets(cfg, 5 + s) for s in range(2)]
    _alone(cfg, copies, _batches(2, torch.Generator().manual_seed(2)))
    batched.unstack_into(stacked, copies)
    for saved, nets in zip(before, copies):
        after = _states(nets)
        assert saved.keys() == after.keys()
        assert all(torch.equal(saved[k], after[k]) for k in saved)


def test_each_stacked_seed_draws_its_own_noise():
    """Two seeds with the same weights and batches: with D's noise on they leave a step with
    different weights (each drew its own noise); with it off, with the same weights."""
    gen = torch.Generator().manual_seed(3)
    batches = _batches(1, gen)
    batches = tuple(t.expand(2, *t.shape[1:]).contiguous() for t in batches)
    for options, differ in (({}, True), (QUIET_D, False)):
        cfg = _cfg(**options)
        stacked = batched.stack_nets(cfg, [_nets(cfg, 0), _nets(cfg, 0)])
        _stacked(cfg, stacked, batches)
        v = stacked.D.state()[0]["hidden.0.v"].detach()
        apart = float((v[0] - v[1]).abs().max())  # about 6e-3 with the noise, 6e-8 (rounding) without
        assert (apart > 1e-4) if differ else (apart < 1e-6), (options, apart)


def test_stacked_seeds_in_bf16_autocast():
    """bf16 autocast (the CPU's default precision) runs stacked, G's batch norm included: G's
    samples and D's logits and features are as close to the fp32 networks' as those of the
    seeds alone in bf16 (within twice their largest error), and a stacked step's losses are
    those of the seeds alone up to bf16's rounding."""
    cfg = _cfg(**QUIET_D)
    amp = partial(torch.autocast, "cpu", dtype=torch.bfloat16)
    alone = [_nets(cfg, s) for s in range(2)]
    stacked = batched.stack_nets(cfg, copy.deepcopy(alone))
    xl, yl, xu, zd, zg, xr = batches = _batches(2, torch.Generator().manual_seed(4))
    for G, D in ((n.G, n.D) for n in (*alone, stacked)):
        G.eval()  # batch norm by its running statistics, which these passes leave alone
    g, d = stacked.G, stacked.D
    with torch.no_grad():
        fp32 = [(n.G(zg[s]), *n.D(xr[s])) for s, n in enumerate(alone)]
        with amp():
            bf16 = [(n.G(zg[s]), *n.D(xr[s])) for s, n in enumerate(alone)]
            outs = vmap(lambda pg, bg, pd, bd, z, x: (g.call(pg, bg)(z), *d.call(pd, bd)(x)))(
                *g.state(), *d.state(), zg, xr)
    for i, name in enumerate(("samples", "logits", "features")):
        error_alone = max(float((bf16[s][i].float() - fp32[s][i]).abs().max()) for s in range(2))
        error_stacked = max(float((outs[i][s].float() - fp32[s][i]).abs().max()) for s in range(2))
        assert 0 < error_stacked <= 2 * error_alone, name
    for G in (*(n.G for n in alone), stacked.G):
        G.train()
    values = _alone(cfg, alone, batches, amp)
    stacked_values = _stacked(cfg, stacked, batches, amp)
    for k in ("loss_lab", "loss_unl", "loss_gen"):
        assert stacked_values[k].tolist() == pytest.approx([float(v[k]) for v in values], rel=0.1), k


@pytest.mark.parametrize("options, reason", [
    (dict(arch="dcgan"), "--arch dcgan"), (dict(optimizer="sgd"), "--optimizer sgd"),
    (dict(hist_avg_d=0.1), "historical averaging"), (dict(translate=1), "--translate"),
])
def test_options_that_cannot_be_stacked_say_why(options, reason):
    assert batched.stack_blockers(resolve(dataset="digits"), SHAPE) == []
    blockers = batched.stack_blockers(resolve(dataset="digits", **options), SHAPE)
    assert len(blockers) == 1 and blockers[0].startswith(reason)


def test_the_stacked_step_can_be_captured():
    """The stacked steps, with the EMA on the device and the learning rates as tensors (as
    ``ssgan.graphs`` captures one seed's), recorded once as a graph would record them
    (ssgan.graphsim: a host read would stop it) after two eager steps and replayed three times,
    end where five eager stacked steps end, bit for bit; G's noise is drawn inside the steps,
    D's noise is on."""
    cfg = _cfg()
    xl, yl, xu, _, _, xr = _batches(2, torch.Generator().manual_seed(5))
    results = []
    for graphed in (False, True):
        nets = batched.stack_nets(cfg, [_nets(cfg, s) for s in range(2)])
        for opt in (nets.opt_d, nets.opt_g):
            _lr_as_tensor(opt, torch.device("cpu"))
        nets.ema_update = DeviceEMA(nets.ema, nets.D, cfg.ema_decay).update

        def step(nets=nets):
            batched.discriminator_step(cfg, nets, xl, yl, xu, torch.rand(2, 30, 100), nullcontext)
            batched.generator_step(cfg, nets, xr, torch.rand(2, 30, 100), nullcontext)

        torch.manual_seed(7)
        for _ in range(2):  # the warm-up: Adam's state exists before a capture, as in ssgan.graphs
            step()
        run = TracedGraph(step).replay if graphed else step
        for _ in range(3):
            run()
        results.append(_states(nets))
    eager, replayed = results
    assert eager.keys() == replayed.keys()
    assert all(torch.equal(eager[k], replayed[k]) for k in eager)
    assert int(eager["ema.n_averaged"]) == 5


def test_the_benchmark_times_training_steps(benchmark_script):
    """benchmarks/batched_seeds.py: what it times trains every seed, eagerly and as (simulated)
    graphs, so that its figures are the cost of real steps; its output has every key."""
    bench = benchmark_script("batched_seeds")
    cfg = resolve_arch(resolve(batch_size=20, init_batch=20), bench.SHAPE)
    for as_graphs in (False, True):
        with simulate():
            sequential, stacked, seeds, stack = bench.iterations_to_time(cfg, 2, torch.device("cpu"), as_graphs)
            before = [n.D.out.v.detach().clone() for n in seeds], stack.D.state()[0]["out.v"].detach().clone()
            sequential()
            stacked()
        for nets, v in zip(seeds, before[0]):
            assert not torch.equal(nets.D.out.v, v), as_graphs
        assert not torch.equal(stack.D.state()[0]["out.v"], before[1]), as_graphs
