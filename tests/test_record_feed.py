"""The delivered record's compiled feed (csrc/mw_record.c): what the session
engine accounts for, per step and per entry, equals an independent model of
the current that flows, computed from the DAC frames it wrote -- DC: the
drive over the gain; AC: scipy's one-pole high-pass of the held drive at
the declared corner -- whatever the block sizes, and the ring's entries
reach the consumer complete and in order."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import signal

from microwave import Biphasic, Monophasic
from microwave._core import RECORD_DTYPE, RECORD_FLUSH_S
from microwave.sessions import Session, Step
from microwave.stage import Stage

RATE = 8000


def _session(amps, seconds, channels):
    specs = [Biphasic(amp_ua=a, phase_us=500, freq_hz=50) if k % 2 == 0 else
             Monophasic(amp_ua=a, phase_us=1000, freq_hz=40) for k, a in enumerate(amps)]
    steps = tuple(Step(f"zone{k}", specs[k], s) for k, s in enumerate(seconds))
    return Session("rec", steps, channels=channels, soft_start_s=0.1, soft_stop_s=0.1)


def _play(session, stage, blocks, level=1.0, capacity=1 << 14):
    """Fill the engine in blocks of the given sizes until it ends (and its
    coupling is bled); the frames written and the entries drained."""
    eng = session.engine(RATE, stage)
    eng.set_level(level)
    eng.rewind()
    eng.enable_record(capacity)
    out, k = [], 0
    while not eng.settled:
        n = blocks[k % len(blocks)]
        k += 1
        buf = np.empty((n, stage.out_channels), np.float32)
        eng.fill(buf)
        out.append(buf)
    # the consumer drains what is there, the last entry is pushed, then drained
    entries = np.empty(1 << 14, RECORD_DTYPE)
    got = eng.drain_record(entries)
    assert eng.flush_record()
    got += eng.drain_record(entries[got:])
    assert got < len(entries)
    return eng, np.concatenate(out), entries[:got]


def _flowing(frames, stage, c):
    """Program channel c's electrode current, uA, as an independent model
    of the stage gives it from the DAC frames."""
    route = stage.channel_map[c]
    pos = route[0] if isinstance(route, tuple) else route
    x = frames[:, pos].astype(np.float64) / stage.dac_per_ua(c)
    if stage.coupling == "dc":
        return x
    d = math.exp(-2 * math.pi * stage.corner_hz / RATE)
    # after the last frame the DAC is silent and the coupling gives back
    # what it stores: forty time constants of zeros hold all of it
    x = np.concatenate([x, np.zeros(math.ceil(40 * RATE / (2 * math.pi * stage.corner_hz)))])
    # y[n] = x[n] - q[n], q[n+1] = (1 - d) x[n] + d q[n]  <=>  Y = X (1 - z^-1) / (1 - d z^-1)
    return signal.lfilter([1.0, -1.0], [1.0, -d], x)


STAGES = [Stage(channel_map=(0, 1)), Stage(channel_map=((0, 1),)),
          Stage(coupling="ac", corner_hz=2.0, channel_map=(0, 1), max_ua=600),
          # a low corner: much of what it stores still flows after the stream
          Stage(coupling="ac", corner_hz=0.5, channel_map=(0, 1), max_ua=1000)]


@settings(max_examples=20, deadline=None)
@given(amps=st.lists(st.floats(20, 300), min_size=1, max_size=3),
       # long steps, steps shorter than a chunk, and steps of no sample at all
       seconds=st.lists(st.one_of(st.floats(0.3, 1.2), st.floats(0.001, 0.05), st.just(1e-5)),
                        min_size=1, max_size=4),
       blocks=st.lists(st.integers(16, 3000), min_size=1, max_size=4),
       which=st.integers(0, len(STAGES) - 1), level=st.sampled_from([1.0, 0.5]))
def test_entries_equal_the_modelled_current_per_step(amps, seconds, blocks, which, level):
    stage = STAGES[which]
    n = min(len(amps), len(seconds))
    channels = len(stage.channel_map)
    session = _session(amps[:n], seconds[:n], channels)
    if session.step_edges(RATE)[-1][1] == 0:        # no sample at all: refused, as every path refuses it
        with pytest.raises(ValueError, match="has no sample to play"):
            _play(session, stage, blocks, level)
        return
    eng, frames, entries = _play(session, stage, blocks, level)
    # complete and in order: entries tile the stream, frame for frame
    assert entries["frames"].sum() == len(frames)
    assert np.all(entries["n_ch"] == channels)
    assert np.all(np.diff(entries["step"]) >= 0)
    assert entries["frames"].max() <= round(RECORD_FLUSH_S * RATE) + 1024
    assert entries["played"].sum() == session.frames(RATE)
    starts = np.concatenate([[0], np.cumsum(entries["frames"])[:-1]])
    # each entry starts where the session stood: the frames played before it
    assert np.array_equal(entries["start"], np.concatenate([[0], np.cumsum(entries["played"])[:-1]]))
    edges = session.step_edges(RATE)
    for c in range(channels):
        y = _flowing(frames, stage, c)
        for i, (lo, hi) in enumerate(edges):
            # frames of step i: from its first sample to the next step's (the
            # last step keeps the bleed after the end, and what flows after the stream)
            hi = hi if i < len(edges) - 1 else len(y)
            seg = y[lo:hi]
            mine = entries["step"] == i
            scale = max(1e-9, np.abs(seg).sum() / RATE)
            assert abs(entries["charge_pos_uc"][mine, c].sum() - seg[seg > 0].sum() / RATE) <= 1e-6 * scale + 1e-9
            assert abs(entries["charge_neg_uc"][mine, c].sum() - seg[seg < 0].sum() / RATE) <= 1e-6 * scale + 1e-9
            assert entries["peak_ua"][mine, c].max(initial=0) == pytest.approx(np.abs(seg).max(initial=0),
                                                                              rel=1e-6, abs=1e-6)
            # each entry lies within its step
            assert np.all(starts[mine] >= lo) and np.all(starts[mine] + entries["frames"][mine] <= hi)
    # the live level: 1 (or the level asked) through the played frames, never above
    assert entries["level_max"].max() <= level + 1e-7
    played = entries["played"] > 0
    assert np.allclose(entries["level_sum"][played] / entries["played"][played], level, atol=1e-6)


def test_dc_record_is_the_charge_asked_for():
    """Through a DC stage the record's charge is the spec's own: a 1 s
    biphasic train of 50 pulses of 200 uA x 500 us is 5 uC each way."""
    spec = Biphasic(amp_ua=200, phase_us=500, freq_hz=50)
    session = Session("dc", (Step("z", spec, 1.0),), channels=1, soft_start_s=0, soft_stop_s=0)
    _, _, e = _play(session, Stage(channel_map=(0,)), [512])
    assert e["charge_pos_uc"][:, 0].sum() == pytest.approx(50 * 200e-6 * 500, rel=1e-6)
    assert e["charge_neg_uc"][:, 0].sum() == pytest.approx(-50 * 200e-6 * 500, rel=1e-6)
    assert e["peak_ua"][:, 0].max() == pytest.approx(200, rel=1e-5)


def test_a_full_ring_loses_nothing():
    """A writer that falls behind: the entry keeps growing (a step's end is
    merged into the next step's entry, counted); every frame and every uC
    is still there once drained."""
    session = _session([100, 200, 150], [0.5, 0.5, 0.5], 2)
    stage = STAGES[0]
    eng_full, frames, small = _play(session, stage, [700], capacity=2)
    _, _, big = _play(session, stage, [700])
    assert small["frames"].sum() == big["frames"].sum() == len(frames)
    assert small["charge_pos_uc"].sum() == pytest.approx(big["charge_pos_uc"].sum(), rel=1e-9)
    assert eng_full.state["record_merged"] > 0


def test_drain_refuses_a_wrong_buffer():
    eng = _session([100], [0.3], 1).engine(RATE, Stage(channel_map=(0,)))
    eng.enable_record()
    with pytest.raises(TypeError, match="RECORD_DTYPE"):
        eng.drain_record(np.empty(4, np.float64))
    with pytest.raises(TypeError, match="RECORD_DTYPE"):
        eng.drain_record(np.empty(8, RECORD_DTYPE)[::2])
    with pytest.raises(ValueError, match="capacity=1"):
        eng.enable_record(1)
