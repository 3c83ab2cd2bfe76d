"""The examples in the benchmark scripts' docstrings hold: pytest collects doctests from ssgan/
alone (testpaths), and a script's imports of its neighbours (``from speed import ...``) need
its folder on sys.path, which the ``benchmark_script`` fixture gives."""

from __future__ import annotations

import doctest

import pytest

from conftest import BENCHMARKS

WITH_EXAMPLES = sorted(p.stem for p in BENCHMARKS.glob("*.py") if ">>> " in p.read_text())


def test_the_scripts_with_examples_are_found():
    assert {"options", "speed", "profile_step"} <= set(WITH_EXAMPLES)


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_a_benchmark_scripts_examples_hold(benchmark_script, name):
    result = doctest.testmod(benchmark_script(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
