"""numba peers of microwave's cores: the same samples, written the way a
competent numba user would write them, for the benchmark table (and checked
against the cores by tests/oracle/test_numba_ref.py).

One ``@njit`` renderer covers every train (:func:`render`): it clears the
block, computes the onset of each pulse that touches it from the *plan*
(``spec.plan(rate)``: the same exact rationals as the core for regular trains
and bursts, the closed form of the phase law for sweeps, the listed onsets of
custom trains), and writes each linear piece of the pulse's template (a
phase, an edge, a slope) into the samples it overlaps: a sample wholly inside
a flat piece gets the level, any other sample the integral of the piece over
its overlap with the sample (an area-exact box filter of the ideal
piecewise-linear pulse, like numpy_ref's box references).  Where the period,
delay and edges are whole samples this writes exactly what a whole-sample
mask would (a level, or 0), so it is exact for the mask families too.

* polarity patterns: each pulse's sign from the pattern's state at the
  pulse's index (counted) or onset sample (timed), as the core's
  ``mw_pattern`` gives it;
* envelopes and a session step's gate: each *unit* (a pulse, or an
  alternating pair) is scaled by the envelope x gate at the sample where its
  first pulse starts (what the core does: a pulse is never cut by a ramp);
* sessions (:class:`Session`): each step's programs rendered by the same
  renderer into a per-channel scratch block, then the DC stage (gain, clamp,
  routes) in a second ``@njit`` pass, as numpy_ref.SessionRef computes them.

Every function writes samples ``[start, start + n)`` into a caller's
float32 buffer from scratch, as the next block of a stream needs.  JIT
compilation happens on the first call (``cache=True``: once per machine);
:func:`warm_up` compiles everything outside any timed region.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

from microwave.plans import BurstSchedule, CustomSchedule, RegularSchedule, SweepSchedule

REGULAR, BURST, SWEEP, CUSTOM = 0, 1, 2, 3
_EXP5 = 1.0 - math.exp(-5.0)

njit = nb.njit(cache=True, nogil=True)


# ---- onsets ----------------------------------------------------------------------------------
@nb.njit(cache=True, inline="always")
def _onset(k, si, sf, c_on, c_amp):
    """(ok, whole, frac, amplitude scale) of pulse k."""
    kind = si[0]
    amp = 1.0
    if kind == REGULAR or kind == BURST or (kind == SWEEP and k >= si[15]):
        # (a sweep's held tail: a regular train from pulse si[15] on)
        pw, pr, pd, dw, dr, dd = si[1], si[2], si[3], si[4], si[5], si[6]
        if kind == BURST:
            per = si[7]
            b = k // per
            j = k - b * per
            bt = dr + b * si[9]
            bw = dw + b * si[8] + bt // dd
            brem = bt % dd
        else:
            j = k if kind != SWEEP else k - si[15]
            bw = dw
            brem = dr
        jr = j * pr
        w = bw + j * pw + jr // pd
        f = brem * sf[1] + (jr % pd) * sf[0]     # the core's order: rem x (1 / den)
        if f >= 1.0:
            f -= 1.0
            w += 1
    else:
        if kind == SWEEP:
            f0, f1 = sf[2], sf[3]
            kd = float(k)
            if f0 == f1:
                ts = kd / f0
            elif si[10] != 0:        # log
                ts = sf[10] * math.log(1.0 + kd * sf[11] / sf[12])
            else:
                ts = 2.0 * kd / (f0 + math.sqrt(sf[8] + sf[9] * kd))
            t = (sf[6] + ts) * sf[5]
        else:
            n = c_on.shape[0]
            cyc = k // n
            idx = k - cyc * n
            if cyc > 0 and sf[14] <= 0.0:
                return False, 0, 0.0, 0.0
            amp = c_amp[idx]
            if sf[14] >= 1.0 and sf[14] == math.floor(sf[14]):
                # a loop of whole samples: the first loop's onset moved by whole loops (exact)
                t = sf[15] + c_on[idx]
                if not t < 9.0e18:
                    return False, 0, 0.0, 0.0
                w = np.int64(t)
                f = t - w
                w += cyc * np.int64(sf[14])
                if si[11] != 0 and (w > si[12] or (w == si[12] and f >= sf[13])):
                    return False, 0, 0.0, 0.0
                return True, w, f, amp
            t = sf[15] + cyc * sf[14] + c_on[idx]
        if not t < 9.0e18:
            return False, 0, 0.0, 0.0
        w = np.int64(t)
        f = t - w
    if si[11] != 0 and (w > si[12] or (w == si[12] and f >= sf[13])):
        return False, 0, 0.0, 0.0
    return True, w, f, amp


@nb.njit(cache=True, inline="always")
def _first_k(x, si, sf, n_custom):
    """A pulse index at or before the first pulse that may still sound at sample x."""
    kind = si[0]
    if kind == REGULAR:
        k = math.floor((x - sf[18]) / sf[16]) - 1
    elif kind == BURST:
        k = (math.floor((x - sf[18]) / sf[17]) - 1) * si[7]
    elif kind == SWEEP:
        t = x / sf[5] - sf[6]
        if t <= 0.0:
            return 0
        f0, f1, T = sf[2], sf[3], sf[4]
        if t > T:
            ph = sf[7] + (t - T) * f1
        elif f0 == f1:
            ph = f0 * t
        elif si[10] != 0:
            ph = sf[12] / sf[11] * math.expm1(sf[11] * t / T)
        else:
            ph = f0 * t + (f1 - f0) / (2.0 * T) * t * t
        k = math.floor(ph) - 2
    else:
        if sf[14] <= 0.0:
            return 0
        k = (math.floor((x - sf[15]) / sf[14]) - 1) * n_custom
    return max(np.int64(k), 0)


# ---- polarity patterns, envelopes ---------------------------------------------------------------
@nb.njit(cache=True, inline="always")
def _state(pos, p_len):
    st = 0
    acc = p_len[0]
    while pos >= acc:
        st += 1
        acc += p_len[st]
    return st, acc - p_len[st]


@nb.njit(cache=True)
def _level(p, e_len, e_shape, e_from, e_to, loop, after, total):
    """The float32 level of an envelope at sample p (as a float64)."""
    if loop:
        p = p % total
    elif p >= total:
        return np.float64(np.float32(after))
    seg = 0
    s0 = 0
    while p >= s0 + e_len[seg]:
        s0 += e_len[seg]
        seg += 1
    a = e_from[seg]
    d = e_to[seg] - a
    sh = e_shape[seg]
    if d == 0.0:
        v = a
    elif sh == 1:
        v = a + (d / e_len[seg]) * (p - s0)
    elif sh == 2:
        v = a + d * (0.5 - 0.5 * math.cos(math.pi * ((p - s0) / e_len[seg])))
    elif sh == 3:
        v = a + d * ((1.0 - math.exp(-5.0 * ((p - s0) / e_len[seg]))) / _EXP5)
    else:
        v = a
    return np.float64(np.float32(v))


@nb.njit(cache=True)
def _gain(p, env_i, env_f, n_env):
    """Envelope x gate at sample p (float32 product); env_i/env_f hold both, n_env of them."""
    g = 1.0
    oi = 0
    of = 0
    for _e in range(n_env):
        ns = env_i[oi]
        total = env_i[oi + 1]
        loop = env_i[oi + 2] != 0
        e_len = env_i[oi + 3: oi + 3 + ns]
        e_shape = env_i[oi + 3 + ns: oi + 3 + 2 * ns]
        after = env_f[of]
        e_from = env_f[of + 1: of + 1 + ns]
        e_to = env_f[of + 1 + ns: of + 1 + 2 * ns]
        g = np.float64(np.float32(g * _level(p, e_len, e_shape, e_from, e_to, loop, after, total)))
        oi += 3 + 2 * ns
        of += 1 + 2 * ns
    return g


# ---- one pulse, area-exact ------------------------------------------------------------------
@nb.njit(cache=True, inline="always")
def _draw(out, x0, a, tau, val):
    """Add pulse ``a * template`` starting at x0 (block samples) to out."""
    n = out.shape[0]
    for i in range(tau.shape[0] - 1):
        t0 = x0 + tau[i]
        t1 = x0 + tau[i + 1]
        if t1 <= t0 or t1 <= 0.0 or t0 >= n:
            continue
        v0 = val[i]
        v1 = val[i + 1]
        s0 = math.floor(t0)
        s1 = math.ceil(t1) - 1             # the last sample the piece touches
        if v0 == v1:
            lvl = a * v0
            ci = math.ceil(t0)             # whole samples inside: [ci, fl)
            fl = math.floor(t1)
            if s0 == s1:                   # within one sample
                if s0 >= 0 and s0 < n:
                    out[s0] += lvl * (t1 - t0)
                continue
            if s0 < ci and s0 >= 0:
                out[s0] += lvl * (ci - t0)
            lo = max(ci, 0)
            hi = min(fl, n)
            for s in range(lo, hi):
                out[s] = lvl
            if fl <= s1 and fl < n:
                out[fl] += lvl * (t1 - fl)
        else:
            slope = (v1 - v0) / (tau[i + 1] - tau[i])
            lo = max(s0, 0)
            hi = min(s1 + 1, n)
            for s in range(lo, hi):
                lo_s = max(float(s), t0)
                hi_s = min(s + 1.0, t1)
                out[s] += a * (hi_s - lo_s) * (v0 + slope * (0.5 * (lo_s + hi_s) - t0))


@njit
def render(out, start, si, sf, c_on, c_amp, tau, val, p_kind, p_len, env_i, env_f, n_env):
    """Samples [start, start + len(out)) of a program into out (float32)."""
    n = out.shape[0]
    out[:] = 0.0
    if n == 0:
        return
    end_tpl = tau[tau.shape[0] - 1]
    sign = sf[19]
    n_pat = p_kind.shape[0]
    by_time = si[13] != 0
    U = si[14]
    cycle = 0
    for i in range(n_pat):
        cycle += p_len[i]
    k = _first_k(start - end_tpl - 1.0, si, sf, c_on.shape[0])
    k -= k % U                               # from a unit's first pulse
    alt_s0 = np.int64(-1)                    # a timed alternating state: its instance and first pulse
    alt_k = np.int64(0)
    g = 1.0
    stop = start + n
    while True:
        ok, w, f, amp = _onset(k, si, sf, c_on, c_amp)
        if not ok or w >= stop:
            break
        if n_env > 0 and k % U == 0:
            g = _gain(w, env_i, env_f, n_env)
        x0 = (w - start) + f
        if x0 + end_tpl > 0.0:
            a = sign * amp
            if n_pat > 0:
                pos = (w if by_time else k) % cycle
                st, st0 = _state(pos, p_len)
                kd = p_kind[st]
                if kd == 2:
                    if n_pat == 1:
                        cnt = k
                    elif not by_time:
                        cnt = pos - st0
                    else:
                        s_inst = w - (pos - st0)
                        if s_inst != alt_s0:
                            kk = k
                            while kk > 0:
                                ok2, w2, f2, a2 = _onset(kk - 1, si, sf, c_on, c_amp)
                                if w2 < s_inst:
                                    break
                                kk -= 1
                            alt_s0 = s_inst
                            alt_k = kk
                        cnt = k - alt_k
                    a = a if cnt % 2 == 0 else -a
                else:
                    a = a * kd
            if n_env > 0:
                a = a * g
            _draw(out, x0, a, tau, val)
        k += 1


@njit
def stage(out, ua, gains, clamp, route_p, route_q):
    """The DC stage: clamp(gain x uA) into each channel's routes of out (frames x DAC channels)."""
    for c in range(ua.shape[0]):
        p = route_p[c]
        q = route_q[c]
        gc = gains[c]
        for s in range(out.shape[0]):
            x = gc * np.float64(ua[c, s])
            if x > clamp:
                x = clamp
            elif x < -clamp:
                x = -clamp
            out[s, p] = x
            if q >= 0:
                out[s, q] = -x


# ---- from a plan to the renderer's arrays -----------------------------------------------------
def _env_arrays(envs):
    ii, ff = [], []
    for e in envs:
        ns = len(e.lengths_samples)
        ii += [ns, sum(e.lengths_samples), int(e.loop), *e.lengths_samples, *e.shapes]
        ff += [float(e.after_level), *map(float, e.from_levels), *map(float, e.to_levels)]
    return np.array(ii or [0], dtype=np.int64), np.array(ff or [0.0], dtype=np.float64), len(envs)


class Program:
    """A plan (``spec.plan(rate)``) as the numba renderer's arrays; ``fill(out, start)``."""

    def __init__(self, plan, rate: int | None = None):
        rate = plan.rate if rate is None else rate
        sc = plan.schedule
        si = np.zeros(16, dtype=np.int64)
        sf = np.zeros(20, dtype=np.float64)
        c_on = np.zeros(1)
        c_amp = np.ones(1)
        if isinstance(sc, (RegularSchedule, BurstSchedule)):
            p, d = sc.period, sc.delay
            si[0] = BURST if isinstance(sc, BurstSchedule) else REGULAR
            si[1:7] = (p.whole, p.rem, p.den, d.whole, d.rem, d.den)
            sf[0], sf[1] = 1.0 / p.den, 1.0 / d.den
            sf[16] = p.whole + p.rem / p.den
            sf[18] = d.whole + d.rem / d.den
            if isinstance(sc, BurstSchedule):
                si[7] = sc.pulses_per_burst
                si[8], si[9] = sc.burst_cycle.whole, sc.burst_cycle.rem
                sf[17] = sc.burst_cycle.whole + sc.burst_cycle.rem / sc.burst_cycle.den
        elif isinstance(sc, SweepSchedule):
            si[0] = SWEEP
            si[10] = int(sc.log)
            f0, f1, T = float(sc.start_hz), float(sc.stop_hz), float(sc.seconds)
            sf[2:8] = (f0, f1, T, float(rate), float(sc.delay_s), float(sc.phase_at_end_cycles))
            # as the core's sched_reset derives them
            lr = math.log(f1 / f0)
            sf[8], sf[9] = f0 * f0, 4.0 * ((f1 - f0) / (2.0 * T))
            sf[10], sf[11], sf[12] = T / lr if lr else 0.0, lr, f0 * T
            held = sc.held(rate)
            p, d = held.period, held.onset
            si[1:7] = (p.whole, p.rem, p.den, d.whole, d.rem, d.den)
            sf[0], sf[1] = 1.0 / p.den, 1.0 / d.den
            si[15] = held.first_pulse
        elif isinstance(sc, CustomSchedule):
            si[0] = CUSTOM
            c_on = np.asarray(sc.onsets_samples, dtype=np.float64)
            c_amp = np.asarray(sc.amps_ua, dtype=np.float64)
            sf[14], sf[15] = float(sc.loop_samples), float(sc.delay_samples)
        else:
            raise NotImplementedError(type(sc).__name__)
        if sc.end is not None:
            si[11], si[12], sf[13] = 1, sc.end.whole, sc.end.frac
        pat = plan.pattern
        if pat is not None:
            si[13] = int(pat.by_time)
            self.p_kind = np.asarray(pat.kinds, dtype=np.int64)
            self.p_len = np.asarray(pat.lengths, dtype=np.int64)
        else:
            self.p_kind = np.zeros(0, dtype=np.int64)
            self.p_len = np.zeros(1, dtype=np.int64)
        si[14] = plan.unit_pulses
        sf[19] = plan.sign
        self.si, self.sf, self.c_on, self.c_amp = si, sf, c_on, c_amp
        self.tau = np.asarray(plan.template.taus_samples, dtype=np.float64)
        self.val = np.asarray(plan.template.values_ua, dtype=np.float64)
        self.env_i, self.env_f, self.n_env = _env_arrays([e for e in (plan.envelope, plan.gate) if e is not None])

    def fill(self, out: np.ndarray, start: int) -> np.ndarray:
        render(out, start, self.si, self.sf, self.c_on, self.c_amp, self.tau, self.val, self.p_kind, self.p_len,
               self.env_i, self.env_f, self.n_env)
        return out

    def block(self, start: int, n: int) -> np.ndarray:
        return self.fill(np.empty(n, dtype=np.float32), start)


def program(spec, rate: int) -> Program:
    return Program(spec.plan(rate), rate)


class Session:
    """A session's DAC frames through a DC stage at level 1, as
    SessionEngine.fill gives them (numpy_ref.SessionRef's arithmetic, each
    program by the numba renderer)."""

    def __init__(self, session, stage_, rate: int):
        if stage_.coupling != "dc":
            raise NotImplementedError("the AC pre-emphasis is not covered")
        channels = session.channels_on(stage_)
        self.steps = [(lo, hi, [Program(plan, rate) for plan in plans])
                      for lo, hi, plans in session.step_plans(rate, channels)]
        self.total = min(self.steps[-1][1], round(session.auto_off_s * rate))
        st = stage_.plan(channels, rate)
        self.out_channels = st.out_channels
        self.route_p = np.array([r[0] for r in st.routes[:channels]], dtype=np.int64)
        self.route_q = np.array([r[1] for r in st.routes[:channels]], dtype=np.int64)
        self.gains = np.asarray(st.gains_dac_per_ua[:channels], dtype=np.float64)
        self.clamp = float(np.float32(st.clamp_dac))
        self.n_ch = channels
        used = set(self.route_p) | {q for q in self.route_q if q >= 0}
        self.unrouted = [c for c in range(self.out_channels) if c not in used]
        self.ua = np.zeros((channels, 0), dtype=np.float32)

    def fill(self, out: np.ndarray, start: int) -> np.ndarray:
        n = out.shape[0]
        if self.ua.shape[1] < n:
            self.ua = np.zeros((self.n_ch, n), dtype=np.float32)
        ua = self.ua[:, :n]
        stop = min(start + n, self.total)
        spans = [(max(lo, start), min(hi, stop), lo, progs) for lo, hi, progs in self.steps
                 if max(lo, start) < min(hi, stop)]
        if sum(b - a for a, b, _, _ in spans) < n:   # outside the steps or past auto-off: silence
            ua[:] = 0.0
        for a, b, lo, progs in spans:
            for c, prog in enumerate(progs):
                prog.fill(ua[c, a - start: b - start], a - lo)
        stage(out, ua, self.gains, self.clamp, self.route_p, self.route_q)
        for c in self.unrouted:
            out[:, c] = 0.0
        return out

    def frames(self, start: int, n: int) -> np.ndarray:
        return self.fill(np.empty((n, self.out_channels), dtype=np.float32), start)


def warm_up() -> None:
    """Compile the renderer and the stage (outside any timed region)."""
    import microwave as mw
    buf = np.empty(64, dtype=np.float32)
    program(mw.Biphasic(freq_hz=1000, amp_ua=1, phase_us=250), 48_000).fill(buf, 0)
    stage(np.empty((4, 2), dtype=np.float32), np.zeros((1, 4), dtype=np.float32), np.ones(1), 1.0,
          np.zeros(1, dtype=np.int64), np.full(1, -1, dtype=np.int64))
