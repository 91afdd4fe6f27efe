"""The current between samples: what a sound card's DAC makes of them.

A sound card's DAC does not hold its samples: it interpolates them (an
oversampling FIR, then an analogue low-pass) into a waveform with no
content above about half the sample rate.  Between samples that waveform
goes past them wherever the samples have hard edges: by about 14 % of the
jump after a step of held samples (the sampled step's form of the Gibbs
phenomenon; 9 % is the figure for a continuous step), so a biphasic
pulse's jump from +I to -I reaches about 1.28 I; and a train of 2-sample
phases, ``[I, I, -I, -I]`` repeated, comes out as a sine of amplitude
sqrt(2) I.

The model here is the "sharp roll-off" interpolation filter of audio DACs:
it passes everything below :data:`PASS` of the rate and nothing above
:data:`STOP`, with a raised-cosine transition between (H(f) + H(rate - f)
= 1: the waveform goes through the samples).  Its impulse response falls
as 1/t^3 beyond 1 / (STOP - PASS) samples, so a pulse's ringing is local.

:func:`spec_ratio` bounds, for one spec, the current between samples over
its peak, whatever gain each pulse is given between 0 and the peak and
whatever sign, and with any pulse cut off after any of its samples: so
the bound holds through soft starts and stops, level changes, patterns,
pauses and ends at any pulse -- everything the engine does, which gives
each unit of pulses one gain -- and through a stream that dies mid-pulse
(an underrun, a crash, an unplugged card), which steps the DAC to zero
from wherever the pulse was.  A cut is what costs smooth pulses their
14 %: LIFT's 50 ms edges barely ring, its plateau stepped to zero does.

How it is computed.  For a pulse with its onset at every 1/:data:`OVERSAMPLE`
of a sample, its samples are made area-exact from the spec's template (as
the kernels make them) and interpolated at OVERSAMPLE points per sample;
the onsets between those can ring up to about 1 % more (measured), so the
peaks' best onsets are tried again at eight times the resolution, and the
bound raised by what that finds.  A cut's ringing is the largest partial
sum of the filter's taps over the samples near each time
(:func:`_cut_ringing`).  The bound at a time ``u`` after a pulse's onset
is the larger of that pulse's magnitude there, whole or cut, plus, for
each neighbour at the train's shortest onset spacing and beyond, the most
its ringing can be at any time it could be from that neighbour.  The
sum's largest value, times :data:`GRID` (Bernstein's inequality: a signal
band-limited to STOP of the rate with peak M is at least M (1 - (pi STOP /
OVERSAMPLE)^2 / 2) at the grid point nearest its peak), over the
template's peak, is the ratio.  Steps: each ends with :data:`GAP` silent
samples past its last unit (``Session._step_gate``), and a session's bound
adds twice the most any of its specs' pulses can ring that far away
(``Stage.peak_ua``).
"""
from __future__ import annotations

import functools
import math

import numpy as np

#: the reconstruction filter passes all below this fraction of the rate ...
PASS = 0.45
#: ... and nothing above this one, with a raised-cosine transition between
STOP = 0.55
#: interpolated points per sample, and pulse onsets tried per sample
OVERSAMPLE = 32
#: the true peak is at most the grid's largest point times this (Bernstein's inequality)
GRID = 1.0 / (1.0 - (math.pi * STOP / OVERSAMPLE) ** 2 / 2)
#: samples of silence around a pulse: the filter's response falls as 1/t^3 beyond
#: 1/(STOP - PASS) samples, to about 4e-6 of a jump here; the tails beyond are dropped
CONTEXT = 128
#: a stretch of a pulse longer than twice this (samples) is measured shortened to about that
SHORTEN = 32
#: silent samples, at least, between one step's last pulse and the next step's first
#: (``Session._step_gate``): the filter's ringing has fallen to about 3e-4 of a jump there
GAP = 32


def _interpolated(block: np.ndarray) -> np.ndarray:
    """The reconstruction of ``block`` (taken as periodic along its last
    axis) at OVERSAMPLE points per sample: its spectrum and the first
    image, through the filter's raised-cosine transition from PASS to STOP
    of the rate."""
    n = block.shape[-1]
    x = np.fft.rfft(block)
    j = np.arange(min(int(STOP * n) + 1, n * OVERSAMPLE // 2 + 1))
    f = j / n
    mirrored = j > n // 2                      # beyond half the rate: the image of bin n - j
    spec = np.where(mirrored, np.conj(x[..., np.where(mirrored, n - j, j)]), x[..., np.minimum(j, n // 2)])
    gain = np.clip((STOP - f) / (STOP - PASS), 0.0, 1.0)
    gain = 0.5 - 0.5 * np.cos(np.pi * gain)    # 1 to PASS, 0 from STOP; H(f) + H(1 - f) = 1
    up = np.zeros(block.shape[:-1] + (n * OVERSAMPLE // 2 + 1,), dtype=complex)
    up[..., :len(j)] = spec * gain * OVERSAMPLE
    return np.fft.irfft(up, n * OVERSAMPLE)


def _shortened(taus: np.ndarray) -> tuple[np.ndarray, float]:
    """``taus`` with every stretch between breakpoints longer than 2 x
    SHORTEN samples shortened by whole samples to about that.  In a flat
    stretch's middle the current is its own level, and its ends ring as
    before; a slope made steeper rings more at its ends, not less.  Also
    the samples cut, by which the onsets' spacing shrinks with the pulse
    (a neighbour stays as close to its end)."""
    out, cut = [taus[0]], 0.0
    for i in range(1, len(taus)):
        span = taus[i] - taus[i - 1]
        if span > 2 * SHORTEN + 1:
            cut += math.floor(span - 2 * SHORTEN)
        out.append(taus[i] - cut)
    return np.array(out), cut


def _area_samples(taus: np.ndarray, vals: np.ndarray, phase: float, n: int, first: int) -> np.ndarray:
    """Samples ``first`` .. ``first + n - 1`` of a pulse of the piecewise-linear
    shape (taus, vals) with its onset at ``phase``: each the shape's mean over
    the sample, as the kernels make them."""
    # the shape's integral at each breakpoint (a hard edge: two at one time, no area between)
    area = np.concatenate([[0.0], np.cumsum(np.diff(taus) * (vals[1:] + vals[:-1]) / 2)])

    def integral(t):
        t = np.clip(t, taus[0], taus[-1])
        i = np.clip(np.searchsorted(taus, t, side="right") - 1, 0, len(taus) - 2)
        w = taus[i + 1] - taus[i]
        slope = np.where(w > 0, (vals[i + 1] - vals[i]) / np.where(w > 0, w, 1.0), 0.0)
        d = t - taus[i]
        return area[i] + vals[i] * d + slope * d * d / 2
    edges = np.arange(first, first + n + 1, dtype=np.float64) - phase
    return np.diff(integral(edges))


def _rows(taus: np.ndarray, vals: np.ndarray, phases) -> np.ndarray:
    """The samples of the pulse with its onset at each of ``phases``
    (fractions of a sample), one row each, from sample -CONTEXT to CONTEXT
    after its end."""
    n = int(math.ceil(taus[-1])) + 2 + 2 * CONTEXT
    return np.array([_area_samples(taus, vals, p, n, -CONTEXT) for p in phases])


def _raised_cosine(t: np.ndarray) -> np.ndarray:
    """The filter's impulse response (the raised-cosine pulse of roll-off STOP - PASS)."""
    beta = STOP - PASS
    den = 1.0 - (2.0 * beta * t) ** 2
    near = np.abs(den) < 1e-9                  # t = +-1 / (2 beta): the limit, pi / 4 sinc(t)
    return np.where(near, np.pi / 4 * np.sinc(t), np.sinc(t) * np.cos(np.pi * beta * t) / np.where(near, 1.0, den))


#: the reach, samples either side, of the partial sums that find a cut's ringing ...
CUT_REACH = 32
#: ... and the most the filter's taps beyond it can add, a fraction of the peak
CUT_TAIL = float(max(np.abs(_raised_cosine(f + np.arange(CUT_REACH - 1, 4096))).sum()
                     for f in np.arange(OVERSAMPLE) / OVERSAMPLE))


def _by_tau(grid: np.ndarray, size: int, first: int = 0) -> np.ndarray:
    """The largest of ``grid``'s rows (one per onset phase k / OVERSAMPLE, on
    the time grid from sample -CONTEXT; the first row's k is ``first``) at
    each time since the onset: the pulse with its onset at k / OVERSAMPLE is
    at tau = t - k / OVERSAMPLE, so row k from column k, ``size`` columns."""
    return np.max([grid[j, first + j:first + j + size] for j in range(len(grid))], axis=0)


#: rows interpolated at once (each is OVERSAMPLE times a pulse's samples, in complex and float64
#: copies): the bound's memory stays a few MiB for any spec
CHUNK = 4
#: bases (samples) whose partial sums :func:`_cut_ringing` takes at once (OVERSAMPLE x 2 CUT_REACH
#: float64 each: a few MiB)
CUT_BASES = 64


def _abs_interpolated(rows: np.ndarray):
    """|:func:`_interpolated`| of ``rows``, CHUNK rows at a time: (index of
    the chunk's first row, its rows' magnitudes) for each chunk."""
    for k in range(0, len(rows), CHUNK):
        yield k, np.abs(_interpolated(rows[k:k + CHUNK]))


def _cut_ringing(rows: np.ndarray, size: int) -> np.ndarray:
    """The largest magnitude, at each time since the onset (E's grid), of the
    reconstruction of a pulse of ``rows`` (one per onset phase k / OVERSAMPLE,
    from sample -CONTEXT) cut off after any of its samples: a stream that
    dies mid-pulse (an underrun, a crash, an unplugged card) leaves the DAC
    to step to zero from wherever the pulse was.  At each time, the partial
    sums of the filter's taps over the samples within CUT_REACH, the
    largest, plus CUT_TAIL for the taps beyond."""
    up, k_reach = OVERSAMPLE, CUT_REACH
    n = rows.shape[1]
    lo, hi = CONTEXT - k_reach, n - CONTEXT + k_reach    # the samples near the pulse
    frac = np.arange(up) / up
    # the tap of sample b - K + 1 + j at time b + f: h(f + K - 1 - j)
    taps = _raised_cosine(frac[:, None] + (k_reach - 1 - np.arange(2 * k_reach))[None, :])
    tail = CUT_TAIL * np.abs(rows).max()
    ringing = np.zeros(size)
    out = np.zeros((1, n * up))
    for k, row in enumerate(rows):            # one row at a time, CUT_BASES bases at a time
        padded = np.concatenate([np.zeros(k_reach), row, np.zeros(k_reach)])
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * k_reach)[1:n + 1]   # base b: b-K+1 .. b+K
        for b in range(lo, hi, CUT_BASES):
            e = min(b + CUT_BASES, hi)
            partial = np.cumsum(windows[b:e, None, :] * taps[None, :, :], axis=2)   # base, f, cut
            out[0, b * up:e * up] = np.abs(partial).max(axis=2).ravel() + tail
        ringing = np.maximum(ringing, _by_tau(out, size, k))
    return ringing


def _ringing(taus: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """E(tau): the largest magnitude of the reconstructed pulse at each time
    tau since its onset (from -CONTEXT, 1/OVERSAMPLE apart), over onsets at
    every 1/OVERSAMPLE of a sample; and how much more a pulse's peak is at
    the onsets between those (a factor >= 1: the peaks' best four onsets,
    each tried at eight points either side, 1/(8 OVERSAMPLE) apart); and
    the same E for the pulse cut off after any sample (:func:`_cut_ringing`)."""
    up = OVERSAMPLE
    rows = _rows(taus, vals, [k / up for k in range(up)])
    size = rows.shape[1] * up - up
    e = np.zeros(size)
    peaks = np.zeros(len(rows))
    for k, rec in _abs_interpolated(rows):
        e = np.maximum(e, _by_tau(rec, size, k))
        peaks[k:k + len(rec)] = rec.max(axis=1)
    best = np.argsort(peaks)[-4:]
    finer = _rows(taus, vals, [(k + m / 8) / up for k in best for m in range(-8, 9)])
    top = max(float(rec.max()) for _, rec in _abs_interpolated(finer))
    return e, _cut_ringing(rows, size), max(1.0, top / float(peaks.max()))


def _spacing_samples(plan) -> float:
    """The shortest time between two onsets of ``plan``'s schedule, samples."""
    from .plans import BurstSchedule, CustomSchedule, RegularSchedule, SweepSchedule
    sc = plan.schedule
    if isinstance(sc, RegularSchedule):
        return sc.period.samples
    if isinstance(sc, BurstSchedule):
        period = sc.period.samples
        return min(period, sc.burst_cycle.samples - (sc.pulses_per_burst - 1) * period)
    if isinstance(sc, SweepSchedule):   # never faster than the faster end; a sample for rounding
        return max(plan.rate / max(sc.start_hz, sc.stop_hz) - 1.0, 0.0)
    assert isinstance(sc, CustomSchedule)
    on = list(sc.onsets_samples)
    gaps = np.diff(on).tolist() + ([sc.loop_samples - on[-1] + on[0]] if sc.loop_samples else [])
    return min(gaps) if gaps else math.inf


@functools.lru_cache(maxsize=1024)
def bound(taus: tuple, vals: tuple, spacing_samples: float) -> tuple[float, float]:
    """The most the reconstructed current of pulses of shape (taus, vals),
    their onsets at least ``spacing_samples`` apart, each at any gain from 0
    to 1 and either sign, any of them cut off after any sample, can reach,
    over the shape's peak (>= 1); and the most such pulses can add where
    they are at least :data:`GAP` samples away (another step's, across its
    silent end), over the same peak."""
    shape = np.asarray(vals, dtype=np.float64)
    peak = float(np.abs(shape).max())
    if peak == 0.0:
        return 1.0, 0.0
    times, cut = _shortened(np.asarray(taus, dtype=np.float64))
    e, e_cut, finer = _ringing(times, shape / peak)
    zero = CONTEXT * OVERSAMPLE                  # the index of tau = 0
    end = zero + int(math.ceil(times[-1] * OVERSAMPLE))   # ... and of the pulse's end
    # the most at any tau up to here: a later neighbour may be a pulse cut off (a dying stream), which
    # rings before its onset more than a whole one does
    whole_or_cut = np.maximum(e, e_cut)
    before = np.maximum.accumulate(whole_or_cut)
    after = np.maximum.accumulate(e[::-1])[::-1]  # ... from here on
    total = whole_or_cut.copy()
    # rounded down: neighbours no further; a lone pulse has none within its reach
    step = max(int(min(spacing_samples - cut, len(e)) * OVERSAMPLE), 1)
    idx = np.arange(len(e))
    for j in range(1, len(e) // step + 2):
        # a later neighbour j: tau <= u - j d, and before its own onset by (j - 1) d at least
        i = np.minimum(idx - j * step, zero - (j - 1) * step)
        total += np.where(i >= 0, before[np.clip(i, 0, None)], 0.0)
        # an earlier neighbour j: tau >= u + j d (u >= 0: this pulse is the last to start by then;
        # before the first pulse, u < 0, there is none)
        i = idx + j * step
        total += np.where((i < len(e)) & (idx >= zero), after[np.clip(i, None, len(e) - 1)], 0.0)
    # long after the pulse only later neighbours count (their sum rises towards this)
    tail = sum(before[zero - (j - 1) * step] for j in range(1, zero // step + 2) if zero - (j - 1) * step >= 0)
    # another step's pulses, GAP or more away: an earlier step's after their end, a later one's before their onset
    gap = GAP * OVERSAMPLE
    reach = sum(after[i] for i in range(end + gap, len(e), step)) + sum(before[i] for i in range(zero - gap, -1, -step))
    return max(1.0, float(max(total.max(), tail)) * GRID * finer), float(reach) * GRID * finer


@functools.cache
def step_overshoot() -> float:
    """How far, at most, the reconstruction of held samples that step from
    1 to 0 goes past them, either side, a fraction of the step: about 0.14
    (the sampled step's Gibbs phenomenon).  An AC stage's drive carries the
    pre-emphasis (the coupling's charge) under the specs' pulses; a stream
    that dies steps it to zero too, and that step rings by this much on top
    of what the specs' own cut pulses ring.  The step response on a grid
    of 1/64 of a sample within 16 samples of the step (4096 taps before
    it; the taps beyond add under 1e-9), its peak raised by Bernstein's
    bound for that grid (as :data:`GRID`)."""
    up, half, reach = 64, 16, 4096
    # at t = q + f / up: the samples j = -reach .. 0 weigh h(t - j) = h(f / up + n) for
    # n = q .. q + reach; the taps h(f / up + n) are computed once per f (n descending, the
    # order of j ascending), and each q sums its window of them
    n = np.arange(half + reach, -half - 1, -1)
    step = np.empty(2 * half * up + 1)          # t = -half .. half, 1/up apart
    for f in range(up):
        sums = np.lib.stride_tricks.sliding_window_view(_raised_cosine(f / up + n), reach + 1).sum(axis=1)
        at = (2 * half - np.arange(len(sums))) * up + f     # window s: q = half - s
        keep = at < len(step)
        step[at[keep]] = sums[keep]
    peak = max(float(step.max()), 1.0 + float(-step.min()))
    return peak / (1.0 - (math.pi * STOP / up) ** 2 / 2) - 1.0


@functools.lru_cache(maxsize=512)
def spec_ratio(spec, rate: int) -> tuple[float, float]:
    """How far past its peak a spec's current can go between samples at
    ``rate``, whatever gains its pulses are given and wherever one is cut
    off (a ratio >= 1), and how much its pulses can add to another step's
    across the GAP between them (a fraction of its peak): :func:`bound`
    (kept: a spec is immutable)."""
    plan = spec.plan(rate)
    t = plan.template
    peak = max(abs(v) for v in t.values_ua) or 1.0
    # the shape at a peak of 1 (the ratio does not depend on the amplitude): specs that differ
    # only in amp_ua share one computation
    return bound(tuple(t.taus_samples), tuple(v / peak for v in t.values_ua), _spacing_samples(plan))
