"""The CPU stand-in for CUDA graphs (ssgan.graphsim) keeps a graph's semantics: a replay
reruns the recorded operators with the Python values of the capture, a recording changes
nothing, and what a capture refuses is refused here too, so the captured loop fails here as
it would on a GPU."""

import pytest
import torch

import ssgan.graphs
from conftest import Warnings
from ssgan import losses
from ssgan.config import Config
from ssgan.errors import SSGANError
from ssgan.graphsim import CaptureRefused, TracedGraph, simulate
from ssgan.splits import make_split
from ssgan.train import train


def test_a_replay_keeps_the_python_values_of_its_capture():
    x, t, scale = torch.zeros(3), torch.ones(()), {"value": 1.0}
    graph = TracedGraph(lambda: x.add_(t * scale["value"]))
    assert torch.equal(x, torch.zeros(3))  # recording ran nothing, as far as anyone can see
    scale["value"], t[...] = 10.0, 2.0
    graph.replay()
    assert torch.equal(x, torch.full((3,), 2.0))  # the tensor read afresh, the float as captured
    graph.replay()
    assert torch.equal(x, torch.full((3,), 4.0))


def test_recording_changes_nothing_and_replays_draw_new_numbers():
    torch.manual_seed(0)
    bn, x = torch.nn.BatchNorm1d(4), torch.randn(8, 4)
    out = torch.zeros(8, 4)

    def step():
        out.copy_(bn(x) + torch.randn(8, 4))

    state = {k: v.clone() for k, v in bn.state_dict().items()}
    rng = torch.get_rng_state()
    graph = TracedGraph(step)
    assert all(torch.equal(v, state[k]) for k, v in bn.state_dict().items())  # running statistics too
    assert torch.equal(torch.get_rng_state(), rng) and torch.equal(out, torch.zeros(8, 4))
    graph.replay()
    first = out.clone()
    graph.replay()
    replayed = {k: v.clone() for k, v in bn.state_dict().items()}
    bn.load_state_dict(state)
    torch.set_rng_state(rng)
    step()
    assert torch.equal(out, first)
    step()
    assert not torch.equal(out, first)  # each replay drew new numbers, as a graph's RNG offset moves
    assert all(torch.equal(v, replayed[k]) for k, v in bn.state_dict().items())


def test_a_recording_that_draws_from_its_own_generator_leaves_the_global_one_alone():
    """Its generator is put back; the global generator, which it did not draw from, keeps what
    happened to it meanwhile (here the recorded function reseeds it, as another run's set-up
    in another thread would), where a capture changes nothing either."""
    gen, out = torch.Generator().manual_seed(1), torch.zeros(4)
    before = gen.get_state()

    def step():
        out.copy_(torch.randn(4, generator=gen))
        torch.manual_seed(5)

    TracedGraph(step)
    assert torch.equal(gen.get_state(), before)
    reseeded = torch.get_rng_state()
    torch.manual_seed(5)
    assert torch.equal(reseeded, torch.get_rng_state())


@pytest.mark.parametrize("body", [lambda x: x.sum().item(), lambda x: x[x > 0], lambda x: x + torch.tensor([1.0])],
                         ids=["item", "mask", "host-data"])
def test_what_a_capture_refuses_is_refused_and_undone(body):
    x = torch.ones(3)

    def step():
        x.mul_(2.0)
        body(x)

    with pytest.raises(CaptureRefused, match="^operation not permitted when stream is capturing"):
        TracedGraph(step)
    assert torch.equal(x, torch.ones(3))


def test_a_host_read_in_a_step_falls_back_as_on_a_gpu(digits, monkeypatch):
    """``--graphs auto`` meets a step that reads a value on the host: one line, then the eager
    loop, to the same weights; ``--graphs on`` stops in one line."""
    real = losses.supervised_loss
    monkeypatch.setattr(losses, "supervised_loss", lambda *args: real(*args) * float(real(*args) > -1))
    split = make_split(digits, 50, 1)
    cfg = Config(dataset="digits", epochs=1, device="cpu")
    warned = Warnings()
    with simulate(when=lambda cfg: cfg.graphs != "off"):
        fallback = train(cfg, digits, split, reporter=warned)
        assert warned.lines == ["--graphs auto: capturing the steps failed (operation not permitted when stream is "
                                "capturing (simulated: aten._local_scalar_dense.default reads a device value on the "
                                "host)); training eagerly"]
        with pytest.raises(SSGANError, match=r"^--graphs on: capturing the steps failed \(operation not permitted"):
            train(cfg.replace(graphs="on"), digits, split)
    eager = train(cfg.replace(graphs="off"), digits, split)
    for k, v in eager.generator.state_dict().items():
        assert torch.equal(v, fallback.generator.state_dict()[k]), k


def test_a_learning_rate_the_graph_does_not_read_is_caught(digits, simulated, monkeypatch):
    """The control of the graph-against-eager test (tests/test_graphs.py): were Adam's rate a
    float, the graphs would keep the rate of their capture, and the decaying schedule would
    leave them; the comparison sees it."""
    monkeypatch.setattr(ssgan.graphs, "to_capturable", lambda opt, device: None)
    split = make_split(digits, 50, 1)
    cfg = Config(dataset="digits", epochs=2, device="cpu", d_input_noise=0.0, d_hidden_noise=0.0, lr_decay_start=0.3)
    eager = train(cfg.replace(graphs="off"), digits, split)
    frozen = train(cfg.replace(graphs="on"), digits, split)
    a, b = eager.generator.state_dict(), frozen.generator.state_dict()
    assert not all(torch.equal(a[k], b[k]) for k in a)
