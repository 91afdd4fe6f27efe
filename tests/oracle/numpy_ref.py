"""Vectorised numpy implementations of microwave's waveforms: the baselines
the compiled cores are measured against, and an independent check of them.

Two kinds:

* ``mask_*``: rectangular trains whose period, delay and edges are whole
  samples.  A box filter of a hard edge that falls on a sample boundary is
  a plain step, so each sample is the pulse's level or zero: a mask of the
  phase within the period.  This is what a numpy user would write, and it is
  *exact*: the core writes ``float32(level * sign)`` on such samples.

* ``program_ref`` / ``session_ref``: anything the cores do (fractional
  edges, sloped edges, triangular pulses, bursts, sweeps, polarity patterns,
  envelopes, step gates, the DC output stage), computed from the same *plan*
  the compiled generator gets (``spec.plan(rate)``, a microwave.plans.ProgramPlan).  Each sample is the
  average of the ideal piecewise-linear pulse over ``[n, n+1)``: the level
  itself where the sample lies inside a flat part, otherwise
  ``a * (C(tau + 1) - C(tau))`` with ``C`` the integral of the pulse since
  its onset, plus the tail of the previous pulse.  Only samples that an edge
  or a slope touches are integrated (the numpy fast path of the kernel's
  fast path).  Onsets come from the same exact rational arithmetic as the
  core (integers), so they agree to the sample; edge samples agree to float
  rounding (the test allows 1e-5 of the peak; today they match bit for bit,
  but for a log sweep's few edge samples: see Schedule's ``log``).

Every function computes samples ``[start, start + n)`` from scratch, as the
next block of a stream would need, and returns float32.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from microwave.plans import BurstSchedule, CustomSchedule, RegularSchedule, SweepSchedule

# ---- the curved ramp shapes, from libm (the core uses polynomials within 1e-10) ----
_SHAPES = {
    2: lambda x: 0.5 - 0.5 * np.cos(np.pi * x),
    3: lambda x: (1.0 - np.exp(-5.0 * x)) / (1.0 - math.exp(-5.0)),
}


# =============================================================================
# rectangular trains with whole-sample edges: masks
# =============================================================================
def _whole(x: float, what: str) -> int:
    if abs(x - round(x)) > 1e-9:
        raise ValueError(f"{what}={x!r} samples is not whole: use program_ref")
    return int(round(x))


def mask_params(spec, rate: int) -> dict:
    """Period, delay and phase edges in whole samples of a rectangular
    regular train (raises ValueError when one is fractional or sloped)."""
    plan = spec.plan(rate)
    sc = plan.schedule
    if not isinstance(sc, RegularSchedule) or plan.envelope is not None:
        raise ValueError("mask refs cover regular trains without bursts or envelopes")
    whole, rem = sc.period.whole, sc.period.rem
    dw, drem = sc.delay.whole, sc.delay.rem
    if rem or drem:
        raise ValueError("period or delay is not a whole number of samples")
    if spec.rise_us or spec.fall_us:
        raise ValueError("sloped edges: use program_ref")
    spu = rate / 1e6
    phases, t = [], 0
    gaps = spec.gaps_us() + [0.0]
    for (amp, w), g in zip(spec.phases(), gaps):
        w = _whole(w * spu, "phase width")
        phases.append((t, t + w, float(amp)))
        t += w + _whole(g * spu, "gap")
    return {"period": whole, "delay": dw, "phases": phases, "sign": plan.sign, "pattern": plan.pattern}


def mask_train(p: dict, start: int, n: int) -> np.ndarray:
    """A rectangular train from :func:`mask_params`: samples [start, start+n).

    The mask of one period (level where a phase covers the sample, else 0)
    indexed by each sample's phase; a polarity pattern multiplies each
    pulse's samples by its sign."""
    P, d = p["period"], p["delay"]
    table = p.get("_table")
    if table is None:
        table = np.zeros(P, dtype=np.float32)
        ph = np.arange(P)
        for lo, hi, amp in p["phases"]:
            table[(ph >= lo) & (ph < hi)] = amp
        p["_table"] = table
    idx = np.arange(start - d, start - d + n, dtype=np.int64)
    out = table[idx % P]
    if p["pattern"] is not None or p["sign"] != 1.0:
        k = idx // P
        k0 = int(k[0]) if n else 0
        ks = np.arange(k0, int(k[-1]) + 1 if n else k0, dtype=np.int64)
        signs = np.broadcast_to(np.asarray(pulse_signs(p["pattern"], ks, ks * P + d, p["sign"]), dtype=np.float32),
                                ks.shape)
        out *= signs[k - k0]
    if start < d:
        out[: d - start] = 0.0
    return out


def tile_train(p: dict, start: int, n: int) -> np.ndarray:
    """The periodic shortcut: one precomputed period of a rectangular train
    without a pattern, repeated with np.tile (a copy, not a synthesis: it
    needs a whole-sample period and no per-pulse variation)."""
    if p["pattern"] is not None:
        raise ValueError("tile_train covers trains without a pattern")
    mask_train(p, 0, 0)
    table = p["_table"] * np.float32(p["sign"])
    P = p["period"]
    r = (start - p["delay"]) % P
    return np.tile(table, -(-(n + r) // P))[r: r + n]


def mask_biphasic(spec, rate: int, start: int, n: int) -> np.ndarray:
    return mask_train(mask_params(spec, rate), start, n)


# =============================================================================
# polarity patterns: the sign of pulse k
# =============================================================================
def pulse_signs(pattern, k: np.ndarray, onset_w: np.ndarray, sign: float = 1.0, k_first_at=None):
    """Sign (+1, -1, 0) of pulses ``k`` starting at samples ``onset_w``
    (times ``sign``), as the core's mw_pattern gives them.

    ``k_first_at(sample)`` -- the index of the first pulse at or after a
    sample -- is needed only for a timed pattern with an alternating state."""
    if pattern is None:
        return sign
    by_time = pattern.by_time
    kinds = np.asarray(pattern.kinds)
    lengths = np.asarray(pattern.lengths, dtype=np.int64)
    ends = np.cumsum(lengths)
    cycle = int(ends[-1])
    pos = (onset_w if by_time else k) % cycle
    state = np.searchsorted(ends, pos, side="right")
    kind = kinds[state]
    out = np.where(kind == 2, 0, kind).astype(np.float64)
    alt = kind == 2
    if alt.any():
        if len(kinds) == 1:
            count = k                       # one alternating state never restarts
        elif not by_time:
            count = pos - (ends[state] - lengths[state])
        else:
            if k_first_at is None:
                raise ValueError("a timed pattern with an alternating state needs k_first_at")
            inst_start = onset_w - (pos - (ends[state] - lengths[state]))
            uniq, inv = np.unique(inst_start[alt], return_inverse=True)
            firsts = np.array([k_first_at(int(s)) for s in uniq], dtype=np.int64)
            count = np.zeros_like(k)
            count[alt] = k[alt] - firsts[inv]
        out[alt] = np.where(count[alt] % 2 == 0, 1.0, -1.0)
    return sign * out


# =============================================================================
# the general case: box-filtered piecewise-linear pulses
# =============================================================================
class Template:
    """The pulse of a plan: breakpoints, slopes and running integral, built
    with the same float operations as the core's Generator."""

    def __init__(self, template):
        taus, vals = template.taus_samples, template.values_ua
        nbp = len(taus)
        self.tau = np.array(taus, dtype=np.float64)
        self.v = np.array(vals, dtype=np.float64)
        slope = [0.0] * nbp
        cum = [0.0] * nbp
        for i in range(nbp - 1):
            slope[i] = 0.0 if taus[i + 1] == taus[i] else (vals[i + 1] - vals[i]) / (taus[i + 1] - taus[i])
            cum[i + 1] = cum[i] + 0.5 * (vals[i] + vals[i + 1]) * (taus[i + 1] - taus[i])
        self.slope = np.array(slope)
        self.cum = np.array(cum)
        self.end = float(taus[-1])
        self.total = cum[-1]
        self.flat = self.slope == 0.0

    def segment(self, x: np.ndarray) -> np.ndarray:
        # the i with tau[i] <= x < tau[i+1] (the first such i on vertical edges)
        return np.minimum(np.searchsorted(self.tau[1:], x, side="right"), len(self.tau) - 2)

    def cum_at(self, x: np.ndarray) -> np.ndarray:
        """Integral of the pulse from its onset to x samples after it."""
        i = self.segment(x)
        d = x - self.tau[i]
        c = self.cum[i] + d * (self.v[i] + 0.5 * self.slope[i] * d)
        c = np.where(x >= self.end, self.total, c)
        return np.where(x <= 0.0, 0.0, c)


class Schedule:
    """Onsets (whole sample, fraction) of pulse k, vectorised over k, by the
    core's arithmetic: exact rationals for regular trains and bursts, the
    closed form of the phase law for sweeps, the listed onsets of custom trains.

    ``log``, ``log1p``: the logarithms of a log sweep's onsets, ``np.log``
    and ``np.log1p`` (what a user writes; the core's own, csrc/mw_log.h,
    are within about an ulp of them, so a few edge samples differ in their
    last bits); tests/oracle/test_sweep_log.py gives the core's, operation
    for operation, to check the bits."""

    def __init__(self, sc, rate: float, log=np.log, log1p=np.log1p):
        self.sc = sc
        self.log, self.log1p = log, log1p
        # where the train ends: pulses start before end = whole + frac samples
        self.end = None if sc.end is None else (sc.end.whole, sc.end.frac)
        if isinstance(sc, (RegularSchedule, BurstSchedule)):
            self.kind = "regular"
            self.pw, self.pr, self.pd = sc.period.whole, sc.period.rem, sc.period.den
            self.dw, self.dr, self.dd = sc.delay.whole, sc.delay.rem, sc.delay.den
            if isinstance(sc, BurstSchedule):
                ow, orem, od = sc.burst_on.whole, sc.burst_on.rem, sc.burst_on.den
                self.cw, self.cr = sc.burst_cycle.whole, sc.burst_cycle.rem
                # pulses per burst: j with j * period < burst_on
                P = Fraction(self.pw * self.pd + self.pr, self.pd)
                on = Fraction(ow * od + orem, od)
                self.per_burst = math.ceil(on / P)
            else:
                self.per_burst = None
        elif isinstance(sc, SweepSchedule):
            self.kind = "sweep"
            self.rate = float(rate)
            # the held tail: a regular train at stop_hz (read as the decimal it stands for) from the
            # first pulse past the sweep's phase, its onset the phase law's to 2**-30 of a sample
            hz = Fraction(sc.stop_hz).limit_denominator(10**6)
            self.tail_k = math.floor(sc.phase_at_end_cycles) + 1
            t0 = (Fraction(sc.delay_s) + Fraction(sc.seconds)
                  + (self.tail_k - Fraction(sc.phase_at_end_cycles)) / hz) * int(rate)
            t0 = Fraction(round(t0 * 2**30), 2**30)
            self.tail_w, self.tail_r = t0.numerator // t0.denominator, (t0 - t0.numerator // t0.denominator) * 2**30
            P = Fraction(int(rate)) / hz
            if P.denominator > 2**31 - 1:
                P = P.limit_denominator(2**31 - 1)
            self.tail_pw, self.tail_pr, self.tail_pd = P.numerator // P.denominator, P.numerator % P.denominator, \
                P.denominator
        elif isinstance(sc, CustomSchedule):
            self.kind = "custom"
            self.c_on = np.asarray(sc.onsets_samples, dtype=np.float64)
            self.c_amp = np.asarray(sc.amps_ua, dtype=np.float64)
            self.c_loop = float(sc.loop_samples)
            self.c_delay = float(sc.delay_samples)
        else:
            raise NotImplementedError(f"{type(sc).__name__} is not covered by the numpy reference")

    def amps(self, k: np.ndarray):
        """Each pulse's amplitude scale (a custom train's listed amplitudes; 1 otherwise)."""
        if self.kind != "custom":
            return 1.0
        return self.c_amp[np.asarray(k, dtype=np.int64) % len(self.c_amp)]

    def onsets(self, k: np.ndarray):
        """(whole int64, frac float64, valid bool) of pulses k (int64 array)."""
        k = np.asarray(k, dtype=np.int64)
        if self.kind == "regular":
            if self.per_burst is not None:
                b, j = np.divmod(k, self.per_burst)
                brem_total = self.dr + b * self.cr
                bw = self.dw + b * self.cw + brem_total // self.dd
                brem = brem_total % self.dd
            else:
                j = k
                bw = np.full_like(k, self.dw)
                brem = np.full_like(k, self.dr)
            pw = j * self.pw + (j * self.pr) // self.pd
            prem = (j * self.pr) % self.pd
            w = bw + pw
            f = brem.astype(np.float64) / self.dd + prem.astype(np.float64) / self.pd
            over = f >= 1.0
            f = np.where(over, f - 1.0, f)
            w = w + over
        elif self.kind == "custom":
            cyc, idx = np.divmod(k, len(self.c_on))
            if self.c_loop >= 1.0 and float(self.c_loop).is_integer():
                # a loop of whole samples: the first loop's onsets (delay + onset) moved by whole loops
                t = self.c_delay + self.c_on[idx]
                w = np.floor(t).astype(np.int64)
                f = t - w
                w = w + cyc * int(self.c_loop)
            else:
                # the core's order: delay + cycle * loop + onset, truncated
                t = self.c_delay + cyc.astype(np.float64) * self.c_loop + self.c_on[idx]
                w = np.floor(t).astype(np.int64)
                f = t - w
        else:
            sc = self.sc
            f0, f1, T = sc.start_hz, sc.stop_hz, sc.seconds
            tail = k >= self.tail_k
            kd = np.where(tail, 0, k).astype(np.float64)      # (the tail's pulses: below)
            if f0 == f1:
                ts = kd / f0
            elif sc.log:
                lr = float(self.log(np.float64(f1 / f0)))
                ts = T / lr * self.log1p(kd * lr / (f0 * T))
            else:
                a = (f1 - f0) / (2.0 * T)
                ts = 2.0 * kd / (f0 + np.sqrt(f0 * f0 + 4.0 * a * kd))
            t = (sc.delay_s + ts) * self.rate
            w = np.floor(t).astype(np.int64)
            f = t - w
            # the held tail, in the core's order: the first onset's remainder x 2**-30, the period's x 1/den
            j = np.where(tail, k - self.tail_k, 0)
            jr = j * self.tail_pr
            wt = self.tail_w + j * self.tail_pw + jr // self.tail_pd
            ft = float(self.tail_r) * (1.0 / 2**30) + (jr % self.tail_pd).astype(np.float64) * (1.0 / self.tail_pd)
            over = ft >= 1.0
            w = np.where(tail, wt + over, w)
            f = np.where(tail, np.where(over, ft - 1.0, ft), f)
        if self.end is None:
            valid = np.ones(k.shape, dtype=bool)
        else:
            ew, ef = self.end
            valid = (w < ew) | ((w == ew) & (f < ef))
        if self.kind == "custom" and self.c_loop <= 0.0:
            valid &= k < len(self.c_on)
        return w, f, valid

    def last_at_or_before(self, sample: int) -> int:
        """Index of the last pulse whose whole onset is <= sample, -1 if none."""
        def w(kk):
            ww, _, ok = self.onsets(np.array([kk]))
            return int(ww[0]) if ok[0] else None
        first = w(0)
        if first is None or first > sample:
            return -1
        lo, hi = 0, 1
        while True:
            x = w(hi)
            if x is None or x > sample:
                break
            lo, hi = hi, hi * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            x = w(mid)
            if x is not None and x <= sample:
                lo = mid
            else:
                hi = mid
        return lo


def envelope_levels(env, start: int, n: int):
    """The float32 multiplier of samples [start, start+n) (None: unity)."""
    if env is None:
        return None
    return envelope_at(env, np.arange(start, start + n, dtype=np.int64))


def envelope_at(env, p: np.ndarray):
    """The float32 multiplier of the samples ``p`` (``env``: an EnvelopePlan)."""
    lengths = np.asarray(env.lengths_samples, dtype=np.int64)
    ends = np.cumsum(lengths)
    total = int(ends[-1])
    p = np.asarray(p, dtype=np.int64)
    done = np.zeros(p.shape, dtype=bool)
    if env.loop:
        p = p % total
    else:
        done = p >= total
        p = np.where(done, 0, p)
    seg = np.searchsorted(ends, p, side="right")
    pos = p - (ends[seg] - lengths[seg])
    a = np.asarray(env.from_levels, dtype=np.float64)[seg]
    d = np.asarray(env.to_levels, dtype=np.float64)[seg] - a
    shape = np.asarray(env.shapes)[seg]
    L = lengths[seg].astype(np.float64)
    lvl = a.copy()
    lin = (shape == 1) & (d != 0.0)
    lvl[lin] = a[lin] + (d[lin] / L[lin]) * pos[lin].astype(np.float64)
    for sh, f in _SHAPES.items():
        m = (shape == sh) & (d != 0.0)
        if m.any():
            lvl[m] = a[m] + d[m] * f(pos[m].astype(np.float64) / L[m])
    lvl[done] = env.after_level
    return lvl.astype(np.float32)


def train_ref(plan, start: int, n: int, tpl: Template | None = None, sched: Schedule | None = None) -> np.ndarray:
    """The pulse train of ``plan`` (no envelope): samples [start, start+n)."""
    tpl = tpl or Template(plan.template)
    sched = sched or Schedule(plan.schedule, plan.rate)
    out = np.zeros(n, dtype=np.float32)
    if n == 0:
        return out
    k_cur0 = sched.last_at_or_before(start)
    k_last = sched.last_at_or_before(start + n - 1)
    if k_last < 0:
        return out
    k = np.arange(max(0, k_cur0 - 1), k_last + 1, dtype=np.int64)
    W, F, _ = sched.onsets(k)

    def first_at(sample):
        return sched.last_at_or_before(sample - 1) + 1

    A = np.broadcast_to(np.asarray(pulse_signs(plan.pattern, k, W, plan.sign, first_at), dtype=np.float64)
                        * sched.amps(k), k.shape)
    samples = np.arange(start, start + n, dtype=np.int64)
    ci = np.searchsorted(W, samples, side="right") - 1
    live = ci >= 0
    ci_l = np.maximum(ci, 0)
    tau = (samples - W[ci_l]).astype(np.float64) - F[ci_l]
    a = A[ci_l]
    has_prev = ci >= 1
    pi = np.maximum(ci - 1, 0)
    taup = (samples - W[pi]).astype(np.float64) - F[pi]
    prev_active = has_prev & (taup < tpl.end)
    # the flat fast path: alone, inside the footprint, whole sample in a flat part
    seg = tpl.segment(np.clip(tau, 0.0, None))
    flat = (live & ~prev_active & (tau >= 0.0) & (tau < tpl.end) & tpl.flat[seg]
            & (tau + 1.0 <= tpl.tau[np.minimum(seg + 1, len(tpl.tau) - 1)]))
    out[flat] = (tpl.v[seg[flat]] * a[flat]).astype(np.float32)
    # everything else inside a footprint (edges, slopes, overlaps) is integrated
    edge = live & ~flat & (tau < tpl.end)
    edge |= prev_active
    if edge.any():
        e = np.nonzero(edge)[0]
        te = tau[e]
        val = a[e] * (tpl.cum_at(te + 1.0) - tpl.cum_at(te))
        pa = prev_active[e]
        if pa.any():
            tp = taup[e][pa]
            val[pa] += A[pi[e][pa]] * (tpl.cum_at(tp + 1.0) - tpl.cum_at(tp))
        out[e] = val.astype(np.float32)
    return out


def gain_at(plan, p: np.ndarray) -> np.ndarray:
    """The gain that moves sample by sample (envelope x gate, float32) at samples p."""
    g = np.ones(len(p), dtype=np.float32)
    for env in (plan.envelope, plan.gate):
        if env is not None:
            g = g * envelope_at(env, p)
    return g


def hold_gain(plan, out: np.ndarray, start: int, tpl: Template | None = None,
              sched: Schedule | None = None) -> np.ndarray:
    """``out`` (the train at unit gain, samples [start, start+n)) with one
    gain a unit: each unit (a pulse, or an alternating pair) takes the gain
    of the sample where its first pulse starts; in that sample, the part
    before the onset keeps the previous unit's gain."""
    if plan.envelope is None and plan.gate is None:
        return out
    n = len(out)
    tpl = tpl or Template(plan.template)
    sched = sched or Schedule(plan.schedule, plan.rate)
    U = plan.unit_pulses
    k_last = sched.last_at_or_before(start + n - 1)
    if k_last < 0:
        return out * np.float32(0.0)
    # the units from the one before the unit holding sample `start` on
    k0 = sched.last_at_or_before(start)
    base = max(0, (k0 // U) * U - U) if k0 >= 0 else 0
    ku = np.arange(base, k_last + 1, U, dtype=np.int64)
    W, F, ok = sched.onsets(ku)
    ku, W, F = ku[ok], W[ok], F[ok]

    def first_at(sample):
        return sched.last_at_or_before(sample - 1) + 1
    A = np.broadcast_to(np.asarray(pulse_signs(plan.pattern, ku, W, plan.sign, first_at), dtype=np.float64)
                        * sched.amps(ku), ku.shape)
    h = gain_at(plan, W)                                  # each unit's gain
    before = np.float32(0.0)                              # the gain before the first (none: 0)
    if base > 0:
        before = gain_at(plan, sched.onsets(np.array([base - U]))[0])[0]
    prev = np.concatenate([[before], h[:-1]]).astype(np.float32)
    samples = np.arange(start, start + n, dtype=np.int64)
    ui = np.searchsorted(W, samples, side="right") - 1
    held = np.where(ui >= 0, h[np.maximum(ui, 0)], np.float32(0.0)).astype(np.float32)
    res = out * held
    # where the pulse before a unit's first one still ends in its first sample
    Wp, Fp, okp = sched.onsets(np.maximum(ku - 1, 0))
    tail = (ku > 0) & okp & (Wp + Fp + tpl.end > W)
    straddle = np.nonzero((W >= start) & (W < start + n) & (h != prev) & tail)[0]
    if len(straddle):
        s = W[straddle] - start
        head = A[straddle] * tpl.cum_at(1.0 - F[straddle])
        v = out[s].astype(np.float64)
        res[s] = (prev[straddle].astype(np.float64) * (v - head)
                  + h[straddle].astype(np.float64) * head).astype(np.float32)
    return res


def program_ref(plan, start: int, n: int) -> np.ndarray:
    """One channel's program (train, envelope, step gate), as Generator.fill
    gives it: samples [start, start+n), uA, float32."""
    return hold_gain(plan, train_ref(plan, start, n), start)


def spec_ref(spec, rate: int, start: int, n: int) -> np.ndarray:
    return program_ref(spec.plan(rate), start, n)


# =============================================================================
# sessions through a DC output stage
# =============================================================================
class SessionRef:
    """A session's DAC frames as SessionEngine.fill gives them, for a DC
    stage at level 1 (no live level change), computed in numpy."""

    def __init__(self, session, stage, rate: int):
        if stage.coupling != "dc":
            raise NotImplementedError("the AC pre-emphasis is a recursion: not vectorised here")
        channels = session.channels_on(stage)
        self.steps = [(lo, hi, [(plan, Template(plan.template), Schedule(plan.schedule, rate)) for plan in plans])
                      for lo, hi, plans in session.step_plans(rate, channels)]
        edge = self.steps[-1][1]
        self.total = min(edge, round(session.auto_off_s * rate))
        if session.peak_ua > stage.limit_ua:
            raise ValueError("the session exceeds the stage")
        st = stage.plan(channels, rate)
        self.out_channels = st.out_channels
        self.routes = st.routes
        self.gains = st.gains_dac_per_ua
        self.clamp = float(np.float32(st.clamp_dac))
        self.n_ch = channels

    def frames(self, start: int, n: int) -> np.ndarray:
        ua = np.zeros((self.n_ch, n), dtype=np.float32)
        stop = min(start + n, self.total)
        for lo, hi, plans in self.steps:
            a, b = max(lo, start), min(hi, stop)
            if a >= b:
                continue
            for c, (plan, tpl, sched) in enumerate(plans):
                x = hold_gain(plan, train_ref(plan, a - lo, b - a, tpl, sched), a - lo, tpl, sched)
                ua[c, a - start: b - start] = x
        out = np.zeros((n, self.out_channels), dtype=np.float32)
        for c in range(self.n_ch):
            x = np.clip(self.gains[c] * ua[c].astype(np.float64), -self.clamp, self.clamp)
            p, q = self.routes[c]
            out[:, p] = x
            if q >= 0:
                out[:, q] = -x
        return out
