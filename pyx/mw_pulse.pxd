# Pulse trains: the template of one pulse, the schedule of onsets, and the
# kernel that writes a train into a float32 buffer.
#
# Current is in uA, time in samples.  A pulse is a piecewise-linear function
# p(tau) of the time since its onset (hard edges are two breakpoints at the
# same tau).  Each output sample n is the average of the train over the
# interval [n, n+1): the integral of p between the two edges of the sample.
# That box filter makes a pulse's charge exact whatever its fractional
# onset or width, and makes hard edges land between samples faithfully.
#
# Onsets come from exact rational arithmetic (whole + rem/den samples) for
# regular trains, and from closed-form expressions of the integer pulse index
# for sweeps and custom trains -- never from a float that accumulates.
from libc.stdint cimport int64_t, INT64_MAX
from libc.math cimport floor, ceil, sqrt, log, exp
from libc.string cimport memcpy
from libc.stdlib cimport malloc, free
from posix.stdlib cimport posix_memalign
from mw_pattern cimport mw_pattern, pattern_sign, pattern_reset, MW_POL_ALT

cdef extern from "mw_stream.h" nogil:
    Py_ssize_t MW_STREAM_MIN     # samples: a fill at least this long may bypass the cache
    void mw_stream_copy(float* dst, const float* src, Py_ssize_t n)
    void mw_stream_fill(float* dst, Py_ssize_t n, float value)
    void mw_stream_done()

cdef enum:
    MW_MAX_BP = 16
    MW_CACHE = 256          # samples of a rendered short pulse kept for reuse
    MW_SLOTS = 8            # distinct (fraction, amplitude) renderings kept
    MW_MAX_FRACS = 4        # cache only trains whose onsets take this few fractions
    MW_TILE = 16384         # a periodic train's tile holds whole repeats and at least this many samples
    MW_TILE_NEAR = 4096     # ... but copies within its first whole repeats past this (16 KiB, stays in L1)
    MW_TILE_MAX = 1 << 18   # trains that repeat after more samples than this are not tiled (1 MiB)
    MW_SCHED_REGULAR = 0
    MW_SCHED_SWEEP = 1
    MW_SCHED_CUSTOM = 2


cdef struct mw_rat:
    # a non-negative number of samples: whole + rem / den, 0 <= rem < den
    int64_t whole
    int64_t rem
    int64_t den


cdef inline void rat_add(mw_rat* a, const mw_rat* b) noexcept nogil:
    # a += b; a and b share a denominator
    a.whole += b.whole
    a.rem += b.rem
    if a.rem >= a.den:
        a.rem -= a.den
        a.whole += 1


cdef inline bint rat_ge(const mw_rat* a, const mw_rat* b) noexcept nogil:
    # a >= b, exactly (rem * den < 2**62 as dens are kept below 2**31)
    if a.whole != b.whole:
        return a.whole > b.whole
    return a.rem * b.den >= b.rem * a.den


cdef struct mw_template:
    int nbp
    double tau[MW_MAX_BP]    # breakpoints, samples since onset, non-decreasing, tau[0] = 0
    double v[MW_MAX_BP]      # current at each breakpoint, uA; v[0] = v[nbp-1] = 0
    double slope[MW_MAX_BP]  # (v[i+1]-v[i]) / (tau[i+1]-tau[i]), 0 for a vertical edge
    double cum[MW_MAX_BP]    # integral of p from 0 to tau[i], uA * samples
    double end               # tau[nbp-1]: the pulse's footprint


cdef inline double tpl_cum(const mw_template* t, double x) noexcept nogil:
    """Integral of the pulse from its onset to x samples after it."""
    cdef int i = 0
    cdef double d
    if x <= 0.0:
        return 0.0
    if x >= t.end:
        return t.cum[t.nbp - 1]
    while t.tau[i + 1] <= x:
        i += 1
    d = x - t.tau[i]
    return t.cum[i] + d * (t.v[i] + 0.5 * t.slope[i] * d)


cdef inline void tpl_render(const mw_template* t, double f, double a, float* dst, int64_t L) noexcept nogil:
    """The first L samples of one isolated pulse (scaled by a) whose onset
    is f into sample 0, in one pass over its pieces: sample j covers
    tau = j - f .. tau + 1 of the pulse's time and holds the flat value
    inside a flat piece, the middle's value inside a linear piece, zero
    after the pulse, else the integral -- the same cases and arithmetic
    as train_fill's sample-run path, so the same bits."""
    cdef int64_t j = 0, e
    cdef int i = 0
    cdef double tau, hi
    cdef float v
    while j < L:
        tau = <double>j - f
        if tau >= t.end:
            dst[j] = 0.0
            j += 1
            continue
        if tau >= 0.0:
            while t.tau[i + 1] <= tau:
                i += 1
            hi = t.tau[i + 1]
            if tau + 1.0 <= hi:
                if t.slope[i] == 0.0:
                    # the last sample of the run, by the test above
                    # (monotone in j): estimate, then settle
                    e = <int64_t>(hi + f - 1.0)
                    if e >= L:
                        e = L - 1
                    while e + 1 < L and (<double>(e + 1) - f) + 1.0 <= hi:
                        e += 1
                    while e > j and not ((<double>e - f) + 1.0 <= hi):
                        e -= 1
                    v = <float>(t.v[i] * a)
                    while j <= e:
                        dst[j] = v
                        j += 1
                else:
                    while True:
                        dst[j] = <float>(a * (t.v[i] + t.slope[i] * (tau + 0.5 - t.tau[i])))
                        j += 1
                        if j >= L:
                            break
                        tau = <double>j - f
                        if not (tau + 1.0 <= hi):
                            break
                continue
        dst[j] = <float>(a * (tpl_cum(t, tau + 1.0) - tpl_cum(t, tau)))
        j += 1


cdef struct mw_schedule:
    int kind
    bint has_end             # pulses start only before end_whole + end_frac samples
    int64_t end_whole
    double end_frac
    int64_t k                # index of the next pulse
    bint done
    # regular train with optional bursts: onset = burst_clock + pulse_clock
    mw_rat period
    bint has_burst
    mw_rat burst_on          # pulses start while pulse_clock < burst_on (same den as period)
    mw_rat burst_cycle       # burst period (same den as delay)
    mw_rat pulse_clock
    mw_rat burst_clock       # starts at the train delay
    mw_rat delay             # train delay (same den as burst_cycle)
    double inv_period_den, inv_burst_den
    # sweep: phase-continuous, onset k where the instantaneous phase reaches k cycles
    bint sweep_log
    double f0, f1, sweep_s, rate, delay_s, phase_at_end
    # custom: onsets (samples, sorted, within one loop) and per-pulse amplitude scale
    const double* c_onsets
    const double* c_amps
    int64_t c_n
    double c_loop            # loop period, samples; <= 0 plays once
    double c_delay


cdef inline double _sweep_time(const mw_schedule* s, double k) noexcept nogil:
    # seconds (after the delay) at which the sweep's phase reaches k cycles
    cdef double a, lr
    if k > s.phase_at_end:
        return s.sweep_s + (k - s.phase_at_end) / s.f1
    if s.f0 == s.f1:
        return k / s.f0
    if s.sweep_log:
        lr = log(s.f1 / s.f0)
        return s.sweep_s / lr * log(1.0 + k * lr / (s.f0 * s.sweep_s))
    a = (s.f1 - s.f0) / (2.0 * s.sweep_s)
    return 2.0 * k / (s.f0 + sqrt(s.f0 * s.f0 + 4.0 * a * k))


cdef inline bint sched_past_end(const mw_schedule* s, int64_t w, double f) noexcept nogil:
    """An onset at w + f samples is at or after the train's end."""
    return w > s.end_whole or (w == s.end_whole and f >= s.end_frac)


cdef inline bint sched_next(mw_schedule* s, int64_t* whole, double* frac, double* amp) noexcept nogil:
    """The onset and amplitude scale of the next pulse; False when the train is over."""
    cdef double t, f
    cdef int64_t w, cyc, idx
    if s.done:
        return False
    amp[0] = 1.0
    if s.kind == MW_SCHED_REGULAR:
        if s.has_burst and rat_ge(&s.pulse_clock, &s.burst_on):
            s.pulse_clock.whole = 0
            s.pulse_clock.rem = 0
            rat_add(&s.burst_clock, &s.burst_cycle)
        w = s.burst_clock.whole + s.pulse_clock.whole
        f = s.burst_clock.rem * s.inv_burst_den + s.pulse_clock.rem * s.inv_period_den
        if f >= 1.0:
            f -= 1.0
            w += 1
        rat_add(&s.pulse_clock, &s.period)
    else:
        if s.kind == MW_SCHED_SWEEP:
            t = (s.delay_s + _sweep_time(s, <double>s.k)) * s.rate
        else:
            cyc = s.k // s.c_n
            idx = s.k - cyc * s.c_n
            if cyc > 0 and s.c_loop <= 0.0:
                s.done = True
                return False
            t = s.c_delay + cyc * s.c_loop + s.c_onsets[idx]
            amp[0] = s.c_amps[idx]
        if not (t < 9.0e18):     # past int64 (or NaN): nothing more to play
            s.done = True
            return False
        w = <int64_t>t                 # t >= 0: truncation is floor (and no libm call)
        f = t - w
    if s.has_end and sched_past_end(s, w, f):
        s.done = True
        return False
    s.k += 1
    whole[0] = w
    frac[0] = f
    return True


cdef struct mw_train:
    mw_template tpl
    mw_schedule sched
    mw_pattern pat
    double sign              # +1 positive-first, -1 negative-first
    int64_t n                # absolute index of the next sample to write
    # the latest pulse that starts before the end of sample n, the one before
    # it (whose tail may still reach into sample n), and the next one
    bint has_cur, has_prev, has_next
    int64_t cur_w, prev_w, next_w
    double cur_f, prev_f, next_f
    double cur_a, prev_a, next_a
    # a pulse that shares no sample with its neighbours and spans at most
    # MW_CACHE samples is rendered once per (fraction, amplitude) and copied
    bint cacheable           # onsets take at most MW_MAX_FRACS sub-sample fractions
    bint cur_cached
    int64_t cur_len
    int cur_slot, next_slot
    bint slot_valid[MW_SLOTS]
    double slot_f[MW_SLOTS]
    double slot_a[MW_SLOTS]
    float cache[MW_SLOTS][MW_CACHE]
    # A train that repeats exactly after a whole number of samples (a regular
    # schedule, with or without bursts, no pattern or a counted one) records
    # the samples it renders from tile_start on into a tile of whole
    # repeats; once the tile is full it copies it instead of rendering, and
    # keeps it across rewinds (the train's parameters never change).  A
    # train with an end copies until tile_stop, a whole number of repeats
    # before the end, then takes up the state it saved at tile_start (snap)
    # moved on by those repeats, and plays its end pulse by pulse.  tile
    # and snap are owned by this struct: train_release frees them, and a
    # byte copy of the struct must drop them (train_disown).
    bint no_tile             # render pulse by pulse only (for verification)
    bint pooled              # tile and snap belong to a pool (a session's slots): never
                             # allocated or freed here; a tile that does not fit is not made
    bint no_slots            # ... and sample run by sample run, no pulse rendered in one pass (ditto)
    bint recording           # rendering, and keeping samples >= tile_start
    bint tile_ready          # the tile is full
    bint periodic            # copying from the tile from tile_start on
    int64_t tile_start, tile_stop, tile_len, tile_cap
    int64_t tile_near        # whole repeats >= MW_TILE_NEAR samples (or tile_len): what a
                             # copy into a cached buffer reads; a streaming copy reads tile_len
    float* tile_alt          # a copy of the near part at another 32-byte offset (in tile's block), or NULL
    float* tile
    mw_train* snap
    # set by the caller for one fill: nothing reads these samples back soon
    # (a fill far larger than the cache, no envelope), so long copies and
    # long rests are written with stores that bypass the cache (mw_stream.h)
    bint stream


cdef inline void _train_fetch(mw_train* s) noexcept nogil:
    cdef double amp
    s.has_next = sched_next(&s.sched, &s.next_w, &s.next_f, &amp)
    if s.has_next:
        s.next_a = s.sign * amp * pattern_sign(&s.pat, s.next_w)


cdef inline void sched_reset(mw_schedule* s) noexcept nogil:
    """Back to the first pulse (the running fields only)."""
    s.k = 0
    s.done = False
    s.pulse_clock.whole = 0
    s.pulse_clock.rem = 0
    s.pulse_clock.den = s.period.den
    s.burst_clock = s.delay
    s.inv_period_den = 1.0 / s.period.den
    s.inv_burst_den = 1.0 / s.delay.den


cdef inline void train_start(mw_train* s) noexcept nogil:
    """Rewind to sample 0 (the schedule's and pattern's running fields are reset here)."""
    s.n = 0
    sched_reset(&s.sched)
    pattern_reset(&s.pat)
    s.has_cur = False
    s.has_prev = False
    s.cur_cached = False
    s.cacheable = (s.sched.kind == MW_SCHED_REGULAR and
                   s.sched.period.den * (s.sched.burst_cycle.den if s.sched.has_burst else 1) <= MW_MAX_FRACS)
    s.periodic = False
    s.recording = False
    _train_fetch(s)
    _train_plan_tile(s)


cdef inline int64_t _gcd(int64_t a, int64_t b) noexcept nogil:
    cdef int64_t t
    while b != 0:
        t = a % b
        a = b
        b = t
    return a


cdef inline int64_t _train_repeat(const mw_train* s) noexcept nogil:
    """Samples after which the train (without its end) repeats exactly (at
    most MW_TILE_MAX), or 0 if it may not (a train with no pulse at all
    is not tiled by its caller).

    Onsets are delay + (burst) + k * period with rational period num/den:
    den/gcd(num, den) pulses (or bursts) span a whole number of samples,
    and a counted polarity pattern of C pulses repeats after a multiple of
    C pulses; the repeat is the least common multiple of both.  A timed
    pattern (its states start on fixed samples) repeats after its cycle,
    so the repeat is also a multiple of that."""
    cdef int64_t C = 1, num, den, R, nb, bnum, bden, g, T, cycle = 0
    cdef mw_rat clock
    cdef int i
    cdef const mw_schedule* sc = &s.sched
    if sc.kind != MW_SCHED_REGULAR or s.no_tile:
        return 0
    if s.pat.n > 0:
        if s.pat.n == 1:
            # one state: alternating flips every pulse (a timed one never
            # restarts), any other sign is constant
            C = 2 if s.pat.kind[0] == MW_POL_ALT else 1
        elif s.pat.by_time:
            for i in range(s.pat.n):
                cycle += s.pat.length[i]
                if cycle > MW_TILE_MAX:
                    return 0
        else:
            C = 0
            for i in range(s.pat.n):
                C += s.pat.length[i]
                if C > MW_TILE_MAX:
                    return 0
    # (dens may be shared with the delay or the burst, so not reduced)
    den = sc.period.den
    if sc.period.whole > MW_TILE_MAX:
        return 0
    num = sc.period.whole * den + sc.period.rem          # period = num / den samples
    g = _gcd(num, den)
    num //= g
    den //= g                                            # den pulses span num samples
    if not sc.has_burst:
        R = den // _gcd(den, C) * C
        if R > MW_TILE_MAX or R * sc.period.whole > MW_TILE_MAX:
            return 0
        T = R // den * num
    else:
        # bursts of nb pulses
        bden = sc.burst_cycle.den
        if sc.burst_cycle.whole > MW_TILE_MAX:
            return 0
        bnum = sc.burst_cycle.whole * bden + sc.burst_cycle.rem
        g = _gcd(bnum, bden)
        bnum //= g
        bden //= g                                           # bden bursts span bnum samples
        # pulses that start in a burst, counted as the schedule does
        nb = 0
        clock.whole = clock.rem = 0
        clock.den = sc.period.den
        while not rat_ge(&clock, &sc.burst_on):
            nb += 1
            if nb > MW_TILE_MAX:
                return 0
            rat_add(&clock, &sc.period)
        C = C // _gcd(nb, C)                                 # bursts in a whole pattern cycle
        R = bden // _gcd(bden, C) * C
        if R > MW_TILE_MAX or R * sc.burst_cycle.whole > MW_TILE_MAX:
            return 0
        T = R // bden * bnum
    if cycle > 0:
        T = T // _gcd(T, cycle) * cycle
    return T if T <= MW_TILE_MAX else 0


cdef inline void train_release(mw_train* s) noexcept nogil:
    """Free the tile and the saved state (the struct stays usable:
    train_start makes new ones); a pool's are the pool's to free."""
    if s.pooled:
        return
    free(s.tile)
    free(s.snap)
    train_disown(s)


cdef inline void train_disown(mw_train* s) noexcept nogil:
    """Forget a tile and saved state this struct does not own (after a byte copy)."""
    s.tile = NULL
    s.tile_alt = NULL
    s.snap = NULL
    s.tile_cap = 0
    s.tile_ready = False
    s.periodic = False
    s.recording = False


cdef inline int64_t _tile_size(int64_t T, int64_t* L, int64_t* near) noexcept nogil:
    """For a repeat of T samples: the tile's length L (whole repeats, at
    least MW_TILE samples), its near part, and the floats its buffer needs."""
    cdef int64_t a, k
    L[0] = T * (MW_TILE // T) if T < MW_TILE else T
    # whole repeats adding up to a multiple of 16 samples, so that a copy
    # that wraps stays as aligned as the output
    a = 16 // _gcd(T, 16)
    k = MW_TILE_NEAR // T // a * a
    if k == 0:
        k = a
    near[0] = T * k if T * k <= L[0] else L[0]
    # the tile, 64-byte aligned, then (for a short repeat) a second copy of
    # its near part 16 bytes off a 32-byte boundary: memcpy is up to 2.7x
    # slower when source and destination disagree on their 32-byte offset
    return L[0] + (near[0] + 8 + 4 if near[0] < L[0] else 0)


cdef inline int64_t train_tile_need(const mw_train* s) noexcept nogil:
    """The floats a tile of this train may need (0: it is never tiled),
    known before it starts: what a pool sizes its buffers by."""
    cdef int64_t L, near, T = _train_repeat(s)
    return _tile_size(T, &L, &near) if T > 0 else 0


cdef inline void _train_plan_tile(mw_train* s) noexcept nogil:
    # With T the repeat and the first onset in sample w (or, for a timed
    # pattern, the end of the state it falls in), every sample
    # m >= tile_start = w + ceil(end) + 2 equals sample m + T: a pulse that
    # reaches m + T starts after m + T - end - 1 >= w + T + 1, so its
    # counterpart T earlier starts after the first onset and is a pulse of
    # the train too; and every pulse reaching m has one T later.  With an
    # end, samples before end_whole - 1 are those of the endless train.
    cdef int64_t T, L, start, stop, near, need
    cdef float* buf
    if s.tile_ready:
        s.periodic = True                # same parameters, same tile
        return
    T = _train_repeat(s) if s.has_next else 0
    if T <= 0:
        return
    need = _tile_size(T, &L, &near)
    start = s.next_w
    if s.pat.by_time and s.pat.n > 1 and s.pat.state_end > start:
        # a timed state that began before the first pulse holds fewer pulses
        # than it will in later cycles: the train repeats from the next state
        start = s.pat.state_end
    start += <int64_t>ceil(s.tpl.end) + 2
    start = (start + 15) // 16 * 16      # tile[0] on a 64-byte boundary of an aligned stream
    stop = INT64_MAX
    if s.sched.has_end:
        stop = start + (s.sched.end_whole - 1 - start) // T * T
        if stop < start + L:
            return                       # too short to be worth a tile
        if s.snap == NULL:
            if s.pooled:
                return
            s.snap = <mw_train*>malloc(sizeof(mw_train))
            if s.snap == NULL:
                return
    if s.tile == NULL or s.tile_cap < need:
        if s.pooled:
            return                       # the pool's buffer is too small: pulse by pulse
        if posix_memalign(<void**>&buf, 64, need * sizeof(float)) != 0:
            return                       # no memory: the train is rendered pulse by pulse
        free(s.tile)
        s.tile = buf
        s.tile_cap = need
    s.tile_start = start
    s.tile_stop = stop
    s.tile_len = L
    s.tile_near = near
    s.tile_alt = s.tile + (L + 7) // 8 * 8 + 4 if near < L else NULL
    s.recording = True


cdef inline void _train_leave_tile(mw_train* s) noexcept nogil:
    # at tile_stop: the state saved at tile_start, moved on by the whole
    # repeats in between (onsets, clocks and a timed pattern's state end
    # shift by D samples; a counted pattern is back where it was), with the
    # end checked again
    cdef int64_t D = s.tile_stop - s.tile_start
    cdef mw_train keep = s[0]
    s[0] = s.snap[0]
    s.tile = keep.tile
    s.tile_alt = keep.tile_alt
    s.snap = keep.snap
    s.tile_cap = keep.tile_cap
    s.tile_ready = keep.tile_ready
    s.stream = keep.stream
    s.periodic = False
    s.recording = False
    s.n += D
    s.cur_w += D
    s.prev_w += D
    s.next_w += D
    if s.sched.has_burst:
        s.sched.burst_clock.whole += D
    else:
        s.sched.pulse_clock.whole += D
    if s.pat.n > 0 and s.pat.by_time:
        s.pat.state_end += D        # a timed pattern's states end on absolute samples
    if s.has_next and sched_past_end(&s.sched, s.next_w, s.next_f):
        s.has_next = False
        s.sched.done = True


cdef inline void _train_consider_cache(mw_train* s) noexcept nogil:
    # called when a new pulse becomes current
    cdef double x = s.cur_f + s.tpl.end
    cdef int64_t L = <int64_t>x          # ceil of x >= 0, without a libm call
    cdef int k
    if L < x:
        L += 1
    s.cur_len = L
    # a short pulse that shares no sample with its neighbours is rendered in
    # one pass into a slot and copied from there; where onsets take few
    # sub-sample fractions the slot is kept for the next pulse alike
    s.cur_cached = (L <= MW_CACHE and not s.no_slots
                    and (not s.has_prev or s.prev_w + s.prev_f + s.tpl.end <= <double>s.cur_w)
                    and (not s.has_next or s.next_w >= s.cur_w + L))
    if not s.cur_cached:
        return
    if s.cacheable:
        for k in range(MW_SLOTS):
            if s.slot_valid[k] and s.slot_f[k] == s.cur_f and s.slot_a[k] == s.cur_a:
                s.cur_slot = k
                return
    k = s.next_slot
    s.next_slot = (k + 1) % MW_SLOTS
    tpl_render(&s.tpl, s.cur_f, s.cur_a, s.cache[k], L)
    s.slot_f[k] = s.cur_f
    s.slot_a[k] = s.cur_a
    s.slot_valid[k] = True
    s.cur_slot = k


cdef inline void _fill_const(float* out, Py_ssize_t m, float value) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(m):
        out[j] = value


cdef inline void _fill_rest(const mw_train* s, float* out, Py_ssize_t m) noexcept nogil:
    # zeros between pulses (long in sparse trains)
    if s.stream and m >= 1024 and not s.recording:
        mw_stream_fill(out, m, 0.0)
    else:
        _fill_const(out, m, 0.0)


cdef inline void train_fill(mw_train* s, float* out, Py_ssize_t N) noexcept nogil:
    """Write the next N samples of the train (uA) into out."""
    cdef Py_ssize_t pos = 0, m, j
    cdef int64_t n, upto, L
    cdef const float* src
    while pos < N:
        n = s.n
        m = N - pos
        if s.periodic and n >= s.tile_start:
            if n == s.tile_stop:
                _train_leave_tile(s)
                continue
            # (both lengths are whole repeats: either index gives the sample)
            L = s.tile_len if s.stream else s.tile_near
            j = (n - s.tile_start) % L
            if L - j < m:
                m = L - j
            if s.tile_stop - n < m:
                m = s.tile_stop - n
            if s.stream:
                mw_stream_copy(out + pos, &s.tile[j], m)
            else:
                src = &s.tile[j]
                if s.tile_alt != NULL and 8 < ((<size_t>(out + pos) - <size_t>src) & 31) < 24:
                    src = &s.tile_alt[j]     # the copy whose 32-byte offset matches out's
                memcpy(out + pos, src, m * sizeof(float))
            pos += m
            s.n += m
            continue
        if s.periodic:
            if s.tile_start - n < m:
                m = s.tile_start - n         # the few samples before the tile
        elif s.recording:
            if n == s.tile_start and s.snap != NULL:
                s.snap[0] = s[0]
            upto = s.tile_start if n < s.tile_start else s.tile_start + s.tile_len
            if upto - n < m:
                m = upto - n
        _train_render(s, out + pos, m)
        if s.recording and n >= s.tile_start:
            memcpy(&s.tile[n - s.tile_start], out + pos, m * sizeof(float))
            if n + m == s.tile_start + s.tile_len:
                if s.tile_alt != NULL:
                    memcpy(s.tile_alt, s.tile, s.tile_near * sizeof(float))
                s.recording = False
                s.tile_ready = True
                s.periodic = True
        pos += m
    if s.stream:
        mw_stream_done()


cdef inline void _train_render(mw_train* s, float* out, Py_ssize_t N) noexcept nogil:
    """The next N samples, pulse by pulse."""
    cdef Py_ssize_t pos = 0, m, j
    cdef int64_t n
    cdef double tau, taup, val
    cdef int i
    cdef const mw_template* t = &s.tpl
    cdef bint prev_active
    while pos < N:
        n = s.n
        # make `cur` the latest pulse whose onset is before n + 1
        while s.has_next and s.next_w <= n:
            s.prev_w = s.cur_w
            s.prev_f = s.cur_f
            s.prev_a = s.cur_a
            s.has_prev = s.has_cur
            s.cur_w = s.next_w
            s.cur_f = s.next_f
            s.cur_a = s.next_a
            s.has_cur = True
            _train_fetch(s)
            _train_consider_cache(s)
        m = N - pos
        if s.has_next and s.next_w - n < m:
            m = s.next_w - n            # >= 1: the next onset is after sample n
        if not s.has_cur:
            _fill_rest(s, out + pos, m)
            pos += m
            s.n += m
            continue
        if s.cur_cached:
            # an isolated short pulse: copy its rendering, then rest (it
            # shares no sample with the next pulse) until the next onset
            if n < s.cur_w + s.cur_len:
                if s.cur_w + s.cur_len - n < m:
                    m = s.cur_w + s.cur_len - n
                memcpy(out + pos, &s.cache[s.cur_slot][n - s.cur_w], m * sizeof(float))
            else:
                _fill_rest(s, out + pos, m)
            pos += m
            s.n += m
            continue
        tau = <double>(n - s.cur_w) - s.cur_f
        taup = 0.0
        prev_active = False
        if s.has_prev:
            taup = <double>(n - s.prev_w) - s.prev_f
            prev_active = taup < t.end
        if not prev_active and tau >= 0.0:
            if tau >= t.end:
                # resting between pulses until the next onset
                _fill_rest(s, out + pos, m)
                pos += m
                s.n += m
                continue
            i = 0
            while t.tau[i + 1] <= tau:
                i += 1
            if tau + 1.0 <= t.tau[i + 1]:
                # whole samples inside one piece of the pulse
                if <double>m > t.tau[i + 1] - tau:
                    m = <Py_ssize_t>(t.tau[i + 1] - tau)   # > 0: truncation is floor
                    if m < 1:
                        m = 1           # tau + 1 <= tau[i+1] said one sample fits; the difference rounded below 1
                if t.slope[i] == 0.0:
                    _fill_const(out + pos, m, <float>(t.v[i] * s.cur_a))
                else:
                    # a linear piece: each sample's average is its middle's value
                    for j in range(m):
                        tau = <double>(n + j - s.cur_w) - s.cur_f
                        out[pos + j] = <float>(s.cur_a * (t.v[i] + t.slope[i] * (tau + 0.5 - t.tau[i])))
                pos += m
                s.n += m
                continue
        # a sample that an edge, a slope or two pulses share: integrate
        val = s.cur_a * (tpl_cum(t, tau + 1.0) - tpl_cum(t, tau))
        if prev_active:
            val += s.prev_a * (tpl_cum(t, taup + 1.0) - tpl_cum(t, taup))
        out[pos] = <float>val
        pos += 1
        s.n += 1
