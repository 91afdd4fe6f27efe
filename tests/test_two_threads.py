"""A large fill of a train rendered pulse by pulse (a sweep, a custom train
looped between samples) runs in two threads (``train_split_begin``,
csrc/mw_train.h; the thread is Python's, pyx/generator.pxi): the first
part in the caller's thread, the rest in a second thread on a copy of the
train moved to where that part begins (``train_seek``: the schedule moved
to a pulse a few before it from its closed form, a counted pattern with
it, then the pulses walked).  The
samples must be those of small blocks, bit for bit, and the train must go
on from where the fill ends as if one thread had written it: both are
checked here against the same plan rendered in blocks too small to split.

Plans are built field by field (the templates and patterns of
test_fast_paths), with sweeps long enough that the fills lie inside them
and custom trains of up to 300 onsets, so that the move, its checks and
its fall-backs (a timed pattern with an alternating state is walked from
where the train was) are what the fills go through."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import microwave as mw
from microwave._core import POLARITIES, SPLIT_MIN_SAMPLES, Generator, fill_threads
from microwave.plans import CustomSchedule, PatternPlan, ProgramPlan, SampleTime, SweepSchedule
from signals import fill_in_blocks
from test_fast_paths import PATTERNS, spacing, sweep_cycles, templates

SPLIT_MIN = SPLIT_MIN_SAMPLES    # the least fill made in two threads (csrc/mw_train.h MW_SPLIT_MIN)
BLOCK = 65_536               # the reference's blocks: far below it
ALT = POLARITIES["alternate"]

two_processors = pytest.mark.skipif(fill_threads() < 2, reason="this process may run on one processor only")

SETTINGS = settings(deadline=None, max_examples=40, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# the patterns of test_fast_paths (none; one alternating state; a counted
# cycle with a rest; a timed cycle with an alternating state, which the
# move cannot count and walks), a timed cycle without one (moved), and a
# counted cycle whose alternating states outlast the pulses a move walks
# (else a wrong sign there would be walked past before the second part)
SPLIT_PATTERNS = [*PATTERNS, PatternPlan(True, (1, -1, 0), (48_000, 16_000, 5_000)),
                  PatternPlan(False, (ALT, 1, ALT, -1), (37, 1, 44, 2))]


@st.composite
def long_schedules(draw, rate, end):
    """A sweep of 30 to 300 s (linear, log, or at one rate), or a custom
    train of 1 to 300 onsets looped between samples, on whole samples, or
    played once over more than the fills; a delay, and now and then an end
    inside the fills."""
    stop = None
    if draw(st.integers(0, 4)) == 0:
        stop = SampleTime(draw(st.integers(0, 3 * SPLIT_MIN)), draw(st.sampled_from([0.0, 0.5])))
    if draw(st.booleans()):
        s0, s1 = spacing(draw, end), spacing(draw, end)
        f0, f1 = rate / s0, draw(st.sampled_from([rate / s1, rate / s0]))
        seconds = draw(st.floats(30.0, 300.0))
        log = draw(st.booleans()) and f0 != f1
        delay = draw(st.sampled_from([0.0, 1.0 / rate, draw(st.floats(0.0, 5.0))]))
        return SweepSchedule(start_hz=f0, stop_hz=f1, seconds=seconds, log=log, delay_s=delay,
                             phase_at_end_cycles=sweep_cycles(f0, f1, seconds, log), end=stop)
    n = draw(st.one_of(st.integers(1, 20), st.integers(20, 300)))
    onsets, t = [], draw(st.floats(0.0, 30.0))
    for _ in range(n):
        if onsets and t <= onsets[-1]:
            t = onsets[-1] + 1e-3
        onsets.append(t)
        t += spacing(draw, end)
    amps = draw(st.lists(st.one_of(st.floats(0.01, 500.0), st.floats(-500.0, -0.01)), min_size=n, max_size=n))
    kind = draw(st.sampled_from(["between", "between", "whole", "once"]))
    loop = {"between": t + draw(st.floats(0.001, 5.0)), "whole": float(math.ceil(t)), "once": 0.0}[kind]
    if kind == "once":      # spread over more than the fills
        onsets = [x * 3 * SPLIT_MIN / t for x in onsets]
    delay = draw(st.sampled_from([0.0, float(draw(st.integers(0, 40))), draw(st.floats(0.0, 4000.0))]))
    return CustomSchedule(onsets_samples=tuple(onsets), amps_ua=tuple(amps), loop_samples=loop,
                          delay_samples=delay, end=stop)


@st.composite
def long_plans(draw):
    rate = draw(st.sampled_from([8_000, 44_100, 48_000, 96_000]))
    tpl = draw(templates())
    end = tpl.taus_samples[-1]
    return ProgramPlan(rate=rate, template=tpl, sign=draw(st.sampled_from([1.0, -1.0])),
                       schedule=draw(long_schedules(rate, end)), pattern=draw(st.sampled_from(SPLIT_PATTERNS)),
                       envelope=None, unit_pulses=1, unit_period_samples=1000.0, unit_len_samples=end)


def in_blocks(gen, total):
    return fill_in_blocks(gen, [BLOCK] * (total // BLOCK) + [total % BLOCK])


def assert_same_bits(got, want, what):
    diff = np.flatnonzero(got.view(np.uint32) != want.view(np.uint32))
    assert diff.size == 0, f"{what}: first difference at sample {diff[0]} ({got[diff[0]]} != {want[diff[0]]})"


@SETTINGS
@given(long_plans(), st.integers(0, 200_000), st.integers(0, 70_000), st.integers(0, 70_000),
       st.booleans())
def test_large_fills_in_two_threads_equal_small_blocks_and_go_on_alike(plan, before, more1, more2, tile):
    """Small blocks, then two large fills (each split, each starting
    mid-train), then small blocks again; a rewind and the same once more:
    the bits of a generator that only ever rendered small blocks."""
    sizes = [before, SPLIT_MIN + more1, SPLIT_MIN + more2, 5_000]
    gen, ref = Generator(plan, tile=tile), Generator(plan, tile=tile)
    for rewound in (False, True):
        pos = 0
        for k, n in enumerate(sizes):
            got = in_blocks(gen, n) if k in (0, 3) else gen.render(n)
            where = f"fill {k} from sample {pos}{' after a rewind' if rewound else ''}"
            assert_same_bits(got, in_blocks(ref, n), where)
            pos += n
        assert gen.position == ref.position == pos
        gen.reset()
        ref.reset()
    event(f"split fills: {min(gen.split_fills, 2)} of 4" if gen.split_fills < 4 else "split fills: all 4")
    assert ref.split_fills == 0


@two_processors
@pytest.mark.parametrize("spec", [
    mw.Biphasic(amp_ua=200, phase_us=100, sweep=mw.Sweep(100, 2000, 400.0)),
    mw.Biphasic(amp_ua=200, phase_us=100, sweep=mw.Sweep(100, 2000, 400.0, scale="log")),
    mw.Monophasic(amp_ua=200, phase_us=300, polarity="alternate", sweep=mw.Sweep(50, 700, 120.0)),
    mw.CustomTrain(onsets_s=(0.0003, 0.0101, 0.04), amps_ua=(60.0, -80.0, 70.0), loop_s=0.1000104, phase_us=100),
], ids=["linear", "log", "alternating", "custom"])
def test_a_large_fill_of_a_pulse_by_pulse_train_runs_in_two_threads(spec):
    """The fills above must take the two-thread path at all: each of these
    trains' large fills does (and gives the bits of small blocks)."""
    gen, ref = spec.generator(48_000), spec.generator(48_000)
    in_blocks(gen, 12_345), in_blocks(ref, 12_345)
    got = gen.render(3 * SPLIT_MIN + 7)
    assert gen.split_fills == 1
    assert_same_bits(got, in_blocks(ref, 3 * SPLIT_MIN + 7), "the large fill")
    assert_same_bits(in_blocks(gen, 100_000), in_blocks(ref, 100_000), "after it")


@two_processors
def test_fills_that_stay_in_one_thread(monkeypatch):
    """A train copied from its tile, a fill below the threshold, and any
    fill under MICROWAVE_THREADS=1 stay in the caller's thread."""
    tiled = mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=250).generator(48_000)
    tiled.render(4 * SPLIT_MIN)
    assert tiled.split_fills == 0
    swept = mw.Biphasic(amp_ua=200, phase_us=100, sweep=mw.Sweep(100, 2000, 400.0)).generator(48_000)
    swept.render(SPLIT_MIN - 1)
    assert swept.split_fills == 0
    swept.render(SPLIT_MIN)
    assert swept.split_fills == 1
    monkeypatch.setenv("MICROWAVE_THREADS", "1")
    assert fill_threads() == 1
    swept.render(SPLIT_MIN)
    assert swept.split_fills == 1


@pytest.mark.parametrize("text", ["0", "-2", "two", "", "1.5"])
def test_a_bad_microwave_threads_is_refused_naming_it(monkeypatch, text):
    """A value that is not a positive whole number is refused by the large
    fill it would apply to, naming the variable, the value and what is
    allowed, and the generator is left as it was (no half-written state:
    the next fill is the one it would have been)."""
    spec = mw.Biphasic(amp_ua=200, phase_us=100, sweep=mw.Sweep(100, 2000, 400.0))
    gen, ref = spec.generator(48_000), spec.generator(48_000)
    monkeypatch.setenv("MICROWAVE_THREADS", text)
    with pytest.raises(ValueError, match=f"MICROWAVE_THREADS={text!r} must be a positive whole number"):
        gen.render(SPLIT_MIN)
    assert gen.position == 0
    small = gen.render(1000)            # (a small fill never asks)
    assert_same_bits(small, ref.render(1000), "after the refusal")


def test_a_bad_microwave_threads_leaves_fills_that_would_not_split(monkeypatch):
    """MICROWAVE_THREADS is read only by a fill that would split: a large
    fill of a tiled train, or of a sweep under a gain, never asks for a
    second thread and is not refused for it."""
    monkeypatch.setenv("MICROWAVE_THREADS", "two")
    tiled = mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=250)
    shaped = mw.Biphasic(amp_ua=200, phase_us=100, sweep=mw.Sweep(100, 2000, 400.0),
                         envelope=mw.Envelope.attack_hold_release(3.0, 400.0, 3.0))
    for spec in (tiled, shaped):
        gen = spec.generator(48_000)
        whole = gen.render(SPLIT_MIN)
        assert gen.split_fills == 0
        monkeypatch.delenv("MICROWAVE_THREADS")
        assert_same_bits(whole, in_blocks(spec.generator(48_000), SPLIT_MIN), "a large fill, bad MICROWAVE_THREADS")
        monkeypatch.setenv("MICROWAVE_THREADS", "two")
