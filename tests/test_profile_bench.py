"""benchmarks/profile_step.py sums the profiler's operators into the parts that issue 11 names
(what the README's "where the rest of the step goes" rests on)."""

from __future__ import annotations

import pytest


@pytest.fixture
def profile_step(benchmark_script):
    return benchmark_script("profile_step")


def test_the_parts_cover_every_operator_and_follow_the_step(profile_step):
    """The parts' shares add up to the whole; the products and the random numbers have their
    operators; a D without noise draws only G's inputs, so its random numbers' share falls."""
    from ssgan.config import Config

    small = dict(epochs=1, device="cpu", precision="fp32", graphs="off", d_hidden="64,32", g_hidden="32", batch_size=50)
    with_noise = profile_step.profile_train(Config(**small), 4, 40)
    assert sum(with_noise["parts"].values()) == pytest.approx(1, abs=1e-3)
    assert with_noise["parts"]["matrix products"] > 0.05 and with_noise["parts"]["weight normalisation"] > 0
    assert {"aten::addmm", "aten::normal_"} <= {r["op"] for r in with_noise["top"]}
    # the profile starts with the loop: the networks' initialisation, which draws normal
    # numbers too, is not in it
    quiet = profile_step.profile_train(Config(**small, d_input_noise=0.0, d_hidden_noise=0.0), 4, 40)
    assert "aten::normal_" not in {r["op"] for r in quiet["top"]}
    assert quiet["parts"]["random numbers"] < with_noise["parts"]["random numbers"]


def test_an_operator_not_named_counts_as_the_rest(profile_step):
    assert profile_step.part_of("aten::_fused_adam_") == "Adam"
    assert profile_step.part_of("aten::lerp_") == profile_step.part_of("aten::_foreach_lerp_") == "moving average of D"
    assert profile_step.part_of("aten::softplus") == "rest"


def test_the_top_operators_are_as_many_as_asked(profile_step):
    from ssgan.config import Config

    cfg = Config(epochs=1, device="cpu", precision="fp32", graphs="off", d_hidden="16", g_hidden="16", batch_size=50)
    top = profile_step.profile_train(cfg, 4, 3)["top"]
    assert len(top) == 3 and top[0]["share"] >= top[1]["share"] >= top[2]["share"]
