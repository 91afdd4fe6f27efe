"""An independent model of the current that flows, for the tests.

Built from the hardware's description, not from the library's code: the
DAC holds each sample (zero-order hold); an AC-coupled card's output is an
analog RC high-pass, H(s) = s / (s + 2 pi f), on every DAC channel, which
scipy discretises exactly for a held input; a bridged pair's current is the
difference of its two channels; a current-mode stage converts volts to uA
with its transconductance, a voltage-mode stage drives V / R into the load
(through an AC-coupled card the card's series capacitor drives the load
itself, and a bridged pair's load, between its two outputs, meets both
capacitors in series: C / 2, twice one channel's corner).
The output at each sample is the current just after that sample's edge,
the largest it gets within the sample (a high-pass's output only decays
while its input holds).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import signal


def highpass_zoh(x: np.ndarray, corner_hz: float, rate: float) -> np.ndarray:
    """The analog RC high-pass of a sample-and-hold input, at the sample edges."""
    w = 2 * math.pi * corner_hz
    b, a, *_ = signal.cont2discrete(([1.0, 0.0], [1.0, w]), 1.0 / rate, method="zoh")
    return signal.lfilter(np.ravel(b), np.ravel(a), x)


def volts(dac: np.ndarray, stage, channel: int = 0, corner_hz: float | None = None, rate: float = 48_000) -> np.ndarray:
    """Volts across program channel ``channel``'s electrodes (float64), through
    the card's coupling at ``corner_hz``, one DAC channel's (ignored for a
    DC-coupled stage).  Into a current-mode stage's input each channel is
    coupled on its own; a voltage-mode stage's bridged pair drives its load
    through the loop of both capacitors in series, a high-pass of twice the
    corner on the difference."""
    route = stage.channel_map[channel]
    pos, neg = route if isinstance(route, tuple) else (route, None)

    def out(k):
        v = dac[:, k].astype(np.float64) * stage.full_scale_v
        return highpass_zoh(v, corner_hz, rate) if stage.coupling == "ac" else v
    if neg is None:
        return out(pos)
    if stage.coupling == "ac" and stage.load_ohm is not None:
        return highpass_zoh((dac[:, pos].astype(np.float64) - dac[:, neg].astype(np.float64)) * stage.full_scale_v,
                            2 * corner_hz, rate)
    return out(pos) - out(neg)


def current_ua(dac: np.ndarray, stage, channel: int = 0, corner_hz: float | None = None, rate: float = 48_000,
               load_ohm: float | None = None) -> np.ndarray:
    """The current that flows through program channel ``channel``'s electrodes, uA."""
    v = volts(dac, stage, channel, corner_hz, rate)
    if stage.load_ohm is None:
        return v * stage.ua_per_v
    return v / (load_ohm if load_ohm is not None else stage.load_ohm_min) * 1e6


def corners(stage, n: int = 25) -> list[float]:
    """Corners spread geometrically across the stage's declared tolerance
    (ends included): as dense at the low end, in relative terms, as at the
    high end."""
    if stage.coupling != "ac":
        return [None]
    return list(np.geomspace(stage.corner_hz * (1 - stage.corner_tolerance),
                             stage.corner_hz * (1 + stage.corner_tolerance), n))


def couplings(stage, n: int = 25, loads: int = 9) -> list[tuple[float | None, float | None]]:
    """The (corner Hz, load ohm) pairs the current may flow through: every
    corner across the tolerance (None: DC-coupled) at the lowest load of a
    voltage-mode stage (None: a current-mode stage).  A voltage-mode stage
    on an AC-coupled card is the card's series capacitor C driving the load
    R itself: the current is V / R through a high-pass of corner
    1 / (2 pi R C), which is ``corner_hz`` at the nominal load and moves as
    1 / R, so each corner is taken at ``loads`` loads across the declared
    range, each with its own current."""
    if stage.coupling != "ac" or stage.load_ohm is None:
        return [(f, None) for f in corners(stage, n)]
    return [(f * stage.load_ohm / r, float(r)) for r in np.geomspace(stage.load_ohm_min, stage.load_ohm_max, loads)
            for f in corners(stage, n)]


def current_ua_moving_load(dac: np.ndarray, stage, loads_ohm, corner_hz: float, rate: float = 48_000,
                           channel: int = 0) -> np.ndarray:
    """The current (uA) through a voltage-mode stage on an AC-coupled card
    whose load changes from sample to sample: ``loads_ohm[n]`` during sample
    n (held within it), or ``loads_ohm(n, V, v)`` (volts across the
    electrodes, on the capacitor) chosen as it plays.  The card's series capacitor C, of corner
    ``corner_hz`` at the stage's nominal load (RC = 1 / (2 pi corner_hz
    load_ohm / R)), charges towards the held volts V: over a sample
    v <- V + (v - V) exp(-T / RC), and the current just after the edge,
    (V - v) / R, is the largest within the sample (it only decays while R
    holds).  Sample-exact, from the circuit; a bridged pair's load meets
    both capacitors in series (C / 2: RC halved)."""
    route = stage.channel_map[channel]
    pos, neg = route if isinstance(route, tuple) else (route, None)
    volts_dac = dac[:, pos].astype(np.float64) * stage.full_scale_v
    if neg is not None:
        volts_dac = volts_dac - dac[:, neg].astype(np.float64) * stage.full_scale_v
    series = 2.0 if neg is not None else 1.0
    if callable(loads_ohm):
        choose = loads_ohm
    else:
        loads = np.asarray(loads_ohm, dtype=np.float64)

        def choose(n, V, v):
            return loads[n]
    out = np.empty(len(volts_dac))
    v = 0.0
    for n, V in enumerate(volts_dac):
        R = choose(n, V, v)
        out[n] = (V - v) / R * 1e6
        v = V + (v - V) * math.exp(-2 * math.pi * series * corner_hz * stage.load_ohm / R / rate)
    return out


def hold_against_the_next_pulse(dac: np.ndarray, lo_ohm: float, hi_ohm: float, channel: int = 0):
    """A load that contact changes as badly as it can, for
    :func:`current_ua_moving_load`: before a pulse of one sign, the
    capacitor is driven towards the other -- the lowest load (the fastest
    corner) while the drive pulls it that way, the highest (the slowest)
    while it would pull it back -- so that the next pulse meets the most
    charge of the other polarity."""
    x = dac[:, channel].astype(np.float64)
    big = np.abs(x) > 0.3 * np.abs(x).max(initial=0.0)
    sign = np.where(big, np.sign(x), 0.0)
    upcoming = np.zeros(len(x))      # the sign of the first pulse sample after the run sample n is in
    nxt, run = 0.0, 0.0
    for n in range(len(x) - 1, -1, -1):
        if sign[n] != run:           # a run of one sign (or of rest) ends before n + 1
            nxt = run if run != 0.0 else nxt
            run = sign[n]
        upcoming[n] = nxt
    def choose(n, V, v):
        want_up = upcoming[n] < 0    # a negative pulse next: the most positive charge
        toward = V > v if want_up else V < v
        return lo_ohm if toward else hi_ohm
    return choose


def worst_current_ua(dac: np.ndarray, stage, rate: float, channels: int | None = None, tail_tau: float = 10.0,
                     n_corners: int = 25, between: bool = False) -> float:
    """The largest |current| over every program channel and every corner
    across the tolerance (and every load of a voltage-mode stage:
    :func:`couplings`), with the DAC held at zero afterwards for
    ``tail_tau`` time constants of the slowest corner, at most a second
    (a high-pass of a held zero only decays; the second covers a DAC's
    ringing): what flows during the samples and after they stop (and
    between them, through a sound card's DAC, when ``between``)."""
    tail = 0
    pairs = couplings(stage, n_corners)
    if stage.coupling == "ac":
        slowest = min(f for f, _ in pairs)
        tail = min(math.ceil(tail_tau * rate / (2 * math.pi * slowest)), math.ceil(rate))
    x = np.concatenate([dac, np.zeros((tail, dac.shape[1]), dac.dtype)]) if tail else dac
    worst = 0.0
    for c in range(channels if channels is not None else len(stage.channel_map)):
        for f, load in pairs:
            i = current_ua(x, stage, c, f, rate, load_ohm=load)
            worst = max(worst, float(np.max(np.abs(reconstructed(i, half=32) if between else i), initial=0.0)))
    return worst


def reconstructed(x: np.ndarray, up: int = 32, half: int = 96, beta: float = 0.1) -> np.ndarray:
    """What a sound card's DAC makes of samples ``x`` (1-D, silence before
    and after them), at ``up`` points per sample: the raised-cosine interpolation of roll-off ``beta`` (the
    filter passes everything below (1 - beta) / 2 of the rate and nothing
    above (1 + beta) / 2, like the "sharp roll-off" interpolation filters of
    audio DACs), as a polyphase FIR of ``half`` samples either side, in the
    time domain: h(t) = sinc(t) cos(pi beta t) / (1 - (2 beta t)^2)."""
    t = np.arange(-half * up, half * up + 1) / up
    den = 1.0 - (2.0 * beta * t) ** 2
    near = np.abs(den) < 1e-9               # t = +-1 / (2 beta): the limit is pi / 4 sinc(t)
    h = np.where(near, np.pi / 4 * np.sinc(t), np.sinc(t) * np.cos(np.pi * beta * t) / np.where(near, 1.0, den))
    return signal.upfirdn(h, np.asarray(x, dtype=np.float64), up=up)   # from half a filter before x to after it
