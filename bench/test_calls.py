"""The cost of one fill call from Python, block sizes 0 to 4096, against
the floor: a compiled function that takes the same argument and does
nothing (bench/_floor.pyx, built with Cython at bench time).  Each timing
includes pytest-benchmark's Python loop calling the function, the same for
the floor, so the ratio is fill's own cost over a bare call."""
import operator

import numpy as np
import pytest

from families import BY_KEY, RATE
from mwbench import BLOCKS, record

BUF = np.zeros(max(BLOCKS), dtype=np.float32)
# rounds of at least 100 us (hundreds of calls) so that the timer's own cost
# and resolution vanish from a sub-microsecond call
pytestmark = pytest.mark.benchmark(min_time=100e-6, warmup=True, warmup_iterations=1000)


@pytest.fixture(scope="module")
def gen():
    return BY_KEY["rect_bi_1k"].spec().generator(RATE)


@pytest.mark.parametrize("func, name", [("noop", "floor"), ("noop_buffer", "floor_buffer")])
def test_floor(benchmark, cython_floor, func, name):
    if cython_floor is None:
        pytest.skip("bench/_floor.pyx could not be built")
    benchmark.group = "call"
    benchmark(getattr(cython_floor, func), BUF[:256])
    record(benchmark, f"call/{name}")


def test_position(benchmark, gen):
    """A trivially cheap compiled call already in the package."""
    benchmark.group = "call"
    benchmark(operator.attrgetter("position"), gen)
    record(benchmark, "call/position")


@pytest.mark.parametrize("b", BLOCKS)
def test_fill_call(benchmark, gen, b):
    view = BUF[:b]
    benchmark.group = "call"
    benchmark(gen.fill, view)
    record(benchmark, f"call/fill/{b}", per=max(b, 1))
