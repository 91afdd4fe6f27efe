"""The fast path for rectangular pulses (flat pieces and vertical edges:
``tpl_render_rect`` / ``tpl_rect_n`` in csrc/mw_template.h, with the table
of layouts by fraction that ``tpl_finish`` keeps, the train's loop
over pulses of their own ``train_run_rect`` in csrc/mw_train.c) gives the
bits of the general piece-by-piece loop (``tpl_render``'s), which
``Generator(plan, rect=False)`` takes for every pulse.

Plans are built here field by field (not from specs), so that what the fast
path tests on its way -- a phase narrower than a sample or of a whole number
of samples, an onset on a whole sample, a sample shared by two pulses, a
pulse across a block's end, a sweep's last pulses before it holds its stop
frequency -- comes up often rather than by chance.  Both generators render
the same blocks; the samples are compared as float32 bits.
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microwave._core import POLARITIES, Generator
from microwave.plans import (CustomSchedule, PatternPlan, ProgramPlan, Rational, RegularSchedule, SampleTime,
                             SweepSchedule, TemplatePlan)

SETTINGS = settings(deadline=None, max_examples=200, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

RATES = st.sampled_from([8_000, 44_100, 48_000, 96_000])


def widths():
    """A phase's width, samples: below one sample (where the fast path
    hands the pulse to the general loop), a whole number of them, or any."""
    draw_kind = st.sampled_from(["sub", "whole", "whole", "quarter", "tenth", "any", "any"])
    return draw_kind.flatmap(lambda kind: {
        "sub": st.floats(0.02, 1.0), "whole": st.integers(1, 24).map(float),
        "quarter": st.integers(4, 40).map(lambda k: k * 0.25),
        # tenths: their sums land an ulp or so off whole numbers (7.4 + 9.3 + 7.3 = 24.000000000000004)
        "tenth": st.integers(5, 300).map(lambda k: k * 0.1), "any": st.floats(1.0, 40.0)}[kind])


@st.composite
def templates(draw):
    """A pulse of 1 to 4 hard-edged phases (monophasic, biphasic, triphasic,
    or more) with gaps between them of 0, whole or fractional samples, each
    phase at its own signed amplitude (equal ones included); now and then
    one sloped edge, a template the fast path does not take (rect=False is
    then the same path)."""
    n = draw(st.sampled_from([1, 2, 2, 3, 4]))
    amp = draw(st.floats(0.5, 1000.0))
    taus, vals, t = [], [], 0.0
    for i in range(n):
        if i:
            t += draw(st.one_of(st.just(0.0), widths(), widths(), st.floats(1e-6, 0.5)))
        v = draw(st.one_of(st.just(amp), st.just(-amp), st.floats(0.5, 1000.0), st.floats(-1000.0, -0.5)))
        w = draw(widths())
        taus += [t, t, t + w, t + w]     # a phase between two hard edges (then 0 until the next)
        vals += [0.0, v, v, 0.0]
        t += w
    if draw(st.integers(0, 9)) == 0:
        taus[-2] = taus[-3] + 0.5 * (taus[-2] - taus[-3])   # the last phase's fall sloped
    return TemplatePlan(taus_samples=tuple(taus), values_ua=tuple(vals))


def spacing(draw, end):
    """Onset to onset, samples: mostly apart (by a whole number of samples,
    a hair, or more), sometimes sharing a sample, sometimes overlapping."""
    kind = draw(st.sampled_from(["hair", "whole", "apart", "apart", "apart", "close"]))
    if kind == "hair":
        return draw(st.floats(end + 1e-9, end + 3.0))
    if kind == "whole":
        return float(math.ceil(end) + draw(st.integers(0, 4)))
    if kind == "apart":
        return draw(st.floats(end + 2.0, end * 8 + 60.0))
    return draw(st.floats(max(0.05, 0.5 * end), end + 1.0))


PATTERNS = [None,
            PatternPlan(False, (POLARITIES["alternate"],), (1,)),
            PatternPlan(False, (1, -1, 2, 0), (3, 2, 4, 1)),
            PatternPlan(True, (1, -1, 2), (700, 300, 500))]


def sweep_cycles(f0: float, f1: float, seconds: float, log: bool) -> float:
    """The pulses (the phase, in cycles) of a sweep from f0 to f1 Hz over
    ``seconds``, linear or log in frequency."""
    if f0 == f1:
        return f0 * seconds
    if log:
        return seconds * (f1 - f0) / math.log(f1 / f0)
    return 0.5 * (f0 + f1) * seconds


@st.composite
def schedules(draw, rate, end):
    """A regular train (period with a small or a large denominator, onsets
    drifting across the sample), a linear or log sweep, or a custom train
    (onsets on whole samples or not, close together, once or looped); with
    a delay and sometimes an end."""
    kind = draw(st.sampled_from(["regular", "sweep", "sweep", "custom", "custom"]))
    stop = None
    if draw(st.integers(0, 3)) == 0:
        stop = SampleTime(draw(st.integers(0, 30_000)), draw(st.sampled_from([0.0, 0.5, 0.999])))
    if kind == "regular":
        den = draw(st.one_of(st.integers(1, 4), st.integers(5, 10**6)))
        p = spacing(draw, end)
        whole = max(int(p), 0 if den > 1 else 1)
        period = Rational(whole, draw(st.integers(1 if whole == 0 else 0, den - 1)) if den > 1 else 0, den)
        dden = draw(st.integers(1, 1000))
        delay = Rational(draw(st.integers(0, 50)), draw(st.integers(0, dden - 1)), dden)
        return RegularSchedule(period=period, delay=delay, end=stop)
    if kind == "sweep":
        s0, s1 = spacing(draw, end), spacing(draw, end)
        f0, f1 = rate / s0, rate / s1
        seconds = draw(st.floats(0.01, 0.6))
        log = draw(st.booleans()) and f0 != f1
        return SweepSchedule(start_hz=f0, stop_hz=f1, seconds=seconds, log=log,
                             delay_s=draw(st.sampled_from([0.0, 0.001, 1.0 / rate, draw(st.floats(0.0, 0.01))])),
                             phase_at_end_cycles=sweep_cycles(f0, f1, seconds, log), end=stop)
    n = draw(st.integers(1, 40))
    whole = draw(st.booleans())
    onsets, t = [], draw(st.floats(0.0, 30.0))
    for _ in range(n):
        t = float(math.ceil(t)) if whole else t
        if onsets and t <= onsets[-1]:
            t = onsets[-1] + (1.0 if whole else 1e-3)
        onsets.append(t)
        t += spacing(draw, end)
    amps = draw(st.lists(st.one_of(st.floats(0.01, 500.0), st.floats(-500.0, -0.01), st.sampled_from([0.0, 1.0, -1.0])),
                         min_size=n, max_size=n))
    loop = draw(st.sampled_from([0.0, float(math.ceil(t)), t + draw(st.floats(0.0, 5.0))]))
    delay = draw(st.sampled_from([0.0, float(draw(st.integers(0, 40))), draw(st.floats(0.0, 40.0))]))
    return CustomSchedule(onsets_samples=tuple(onsets), amps_ua=tuple(amps), loop_samples=loop,
                          delay_samples=delay, end=stop)


@st.composite
def rect_plans(draw):
    rate = draw(RATES)
    tpl = draw(templates())
    end = tpl.taus_samples[-1]
    sched = draw(schedules(rate, end))
    return ProgramPlan(rate=rate, template=tpl, sign=draw(st.sampled_from([1.0, -1.0])), schedule=sched,
                       pattern=draw(st.sampled_from(PATTERNS)), envelope=None, unit_pulses=1,
                       unit_period_samples=1000.0, unit_len_samples=end)


@st.composite
def near_cut_plans(draw):
    """Custom trains whose onsets fall on a template's cuts -- the fractions
    at which one of its breakpoints lands on a sample boundary (the table of
    layouts tpl_finish keeps holds only between them, a margin away) -- or
    a few ulps or a few margins off them, or on whole samples (the layout at
    0.0), looped with a whole or a fractional loop (whose onsets drift by
    rounding), in the template's own strategy."""
    rate = draw(RATES)
    tpl = draw(templates())
    if draw(st.booleans()):
        # breakpoints a few ulps off whole numbers (as sums of tenths come
        # out), so that a cut lies a few ulps from 0 or 1
        distinct = sorted(set(tpl.taus_samples))
        moved = {0.0: 0.0}
        for x in distinct[1:]:
            y = float(max(round(x), 1))
            for _ in range(abs(steps := draw(st.integers(-6, 6)))):
                y = float(np.nextafter(y, math.inf if steps > 0 else -math.inf))
            moved[x] = y
        if all(a < b for a, b in zip([moved[x] for x in distinct], [moved[x] for x in distinct][1:])):
            tpl = TemplatePlan(tuple(moved[x] for x in tpl.taus_samples), tpl.values_ua)
    end = tpl.taus_samples[-1]
    cuts = sorted({math.ceil(x) - x for x in tpl.taus_samples} | {0.0})
    eps = (end + 2.0) * 2.0 ** -46          # the table's margin (mw_template.h)
    onsets, t = [], 0.0
    for _ in range(draw(st.integers(1, 30))):
        # the first in sample 0 (f is the onset: its ulps are finer than the sums', which round)
        onset = float(math.floor(t) + (1 if onsets else 0)) + draw(st.sampled_from(cuts))
        for _ in range(abs(steps := draw(st.one_of(st.integers(-8, 8), st.integers(-64, 64))))):
            onset = float(np.nextafter(onset, math.inf if steps > 0 else -math.inf))
        onset += draw(st.sampled_from([0.0, 0.0, eps, -eps, 2 * eps, -2 * eps, 1e-9, -1e-9]))
        onset = max(onset, onsets[-1] + 1e-3 if onsets else 0.0)
        onsets.append(onset)
        t = onset + spacing(draw, end)
    amps = draw(st.lists(st.one_of(st.floats(0.01, 500.0), st.floats(-500.0, -0.01)),
                         min_size=len(onsets), max_size=len(onsets)))
    loop = draw(st.sampled_from([0.0, float(math.ceil(t)), t + draw(st.floats(0.0, 5.0))]))
    sched = CustomSchedule(onsets_samples=tuple(onsets), amps_ua=tuple(amps), loop_samples=loop,
                           delay_samples=0.0, end=None)
    return ProgramPlan(rate=rate, template=tpl, sign=1.0, schedule=sched, pattern=None, envelope=None,
                       unit_pulses=1, unit_period_samples=1000.0, unit_len_samples=end)


@st.composite
def blocks(draw):
    """Block sizes, cycled until the total is rendered: long blocks (most
    pulses whole in one), a mix, or single samples to a pulse's width."""
    kind = draw(st.sampled_from(["long", "long", "mixed", "mixed", "short"]))
    if kind == "long":
        sizes = [draw(st.integers(300, 40_000))]
    elif kind == "mixed":
        sizes = draw(st.lists(st.one_of(st.integers(1, 8), st.integers(9, 300), st.integers(300, 20_000)),
                              min_size=2, max_size=6))
    else:
        sizes = draw(st.lists(st.integers(1, 40), min_size=1, max_size=4))
    return sizes, draw(st.one_of(st.integers(1, 2_000), st.integers(2_000, 40_000)))


def render(gen, sizes, total):
    out, k = [], 0
    while total > 0:
        m = min(total, sizes[k % len(sizes)])
        out.append(gen.render(m))
        total -= m
        k += 1
    return np.concatenate(out)


def assert_fast_is_general(plan, blk):
    """Both paths render the same blocks: the same float32 bits."""
    sizes, total = blk
    fast = render(Generator(plan, tile=False), sizes, total)
    general = render(Generator(plan, tile=False, rect=False), sizes, total)
    assert fast.dtype == general.dtype == np.float32
    assert np.array_equal(fast.view(np.uint32), general.view(np.uint32)), \
        f"first difference at sample {np.flatnonzero(fast.view(np.uint32) != general.view(np.uint32))[0]}"


@SETTINGS
@given(rect_plans(), blocks())
def test_rect_fast_path_equals_general_loop(plan, blk):
    assert_fast_is_general(plan, blk)


@SETTINGS
@given(near_cut_plans(), blocks())
def test_rect_fast_path_equals_general_loop_at_the_cuts(plan, blk):
    # where a layout is decided by rounding: the table must hand those
    # pulses to the tests (or hold them exactly: 0.0)
    assert_fast_is_general(plan, blk)


def _ulps(x, k):
    for _ in range(abs(k)):
        x = float(np.nextafter(x, math.inf if k > 0 else -math.inf))
    return x


def test_rect_fast_path_at_the_cuts_ulp_by_ulp():
    # Templates whose breakpoints lie an ulp or a few off whole numbers (as
    # sums of tenths come out: 7.4 + 9.3 + 7.3), so that their cuts lie a
    # few ulps from 1, where the doubles' rounding decides the layout: one
    # pulse in sample 0 (its fraction is its onset, finer than the sums),
    # at each cut and 1 to 64 ulps either side of it.  (Found by a probe:
    # with no margin around the cuts, 11 of 642660 such pulses differed.)
    templates = [(7.4, 9.3, 7.3), (4.8, 4.8), (2.5, 0.1, 2.4)]
    for k in (1, 2, 3, 5):
        templates += [(_ulps(12.0, k), 12.0), (3.0, _ulps(21.0, -k)), (_ulps(5.0, -k),)]
    for widths in templates:
        taus, vals, t = [], [], 0.0
        for i, w in enumerate(widths):
            v = 100.0 * (-1) ** i + 7.0 * i
            taus += [t, t, t + w, t + w]
            vals += [0.0, v, v, 0.0]
            t += w
        tpl = TemplatePlan(tuple(taus), tuple(vals))
        for c in sorted({math.ceil(x) - x for x in taus}):
            for k in range(-64, 65):
                onset = _ulps(c, k)
                if not 0.0 <= onset < 1.0:
                    continue
                plan = ProgramPlan(rate=48_000, template=tpl, sign=1.0,
                                   schedule=CustomSchedule((onset,), (1.0,), 0.0, 0.0, None), pattern=None,
                                   envelope=None, unit_pulses=1, unit_period_samples=1000.0, unit_len_samples=t)
                fast = Generator(plan, tile=False).render(int(t) + 24)
                general = Generator(plan, tile=False, rect=False).render(int(t) + 24)
                assert np.count_nonzero(fast) > 0
                assert np.array_equal(fast.view(np.uint32), general.view(np.uint32)), (widths, onset)


def test_rect_knob_leaves_a_known_train_alone():
    # the knob is for verification: a plain biphasic train, both ways, the same bits and not all zeros
    tpl = TemplatePlan((0.0, 0.0, 2.5, 2.5, 3.0, 3.0, 5.5, 5.5), (0.0, 100.0, 100.0, 0.0, 0.0, -100.0, -100.0, 0.0))
    plan = ProgramPlan(rate=48_000, template=tpl, sign=1.0,
                       schedule=SweepSchedule(10.0, 400.0, 0.5, True, 0.0, 0.5 * 390.0 / math.log(40.0)),
                       pattern=None, envelope=None, unit_pulses=1, unit_period_samples=4800.0, unit_len_samples=5.5)
    a = Generator(plan).render(48_000)
    b = Generator(plan, rect=False).render(48_000)
    assert np.count_nonzero(a) > 1000
    assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
