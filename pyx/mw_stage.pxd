# The output stage: uA -> DAC samples, the only place that knows volts.
#
# For each program channel: optional AC-coupling pre-emphasis (the inverse
# of the card's first-order high-pass, so the current that flows is the one
# asked for), a gain in DAC units per uA, and a destination -- one DAC
# channel, or a bridged pair driven in antiphase.  The clamp to the stage's
# safe maximum is the last operation on every sample, here, in compiled code.
from libc.string cimport memcpy

cdef enum:
    MW_MAX_CH = 32


cdef struct mw_stage:
    int out_channels
    int n_prog
    int pos[MW_MAX_CH]        # DAC channel of each program channel
    int neg[MW_MAX_CH]        # its antiphase partner (bridged), or -1
    double gain[MW_MAX_CH]    # DAC units per uA, per DAC channel of the pair
    float clamp               # |DAC sample| never exceeds this
    bint compensate           # pre-emphasise for an AC-coupled output
    double hp_a               # the card's high-pass: y[n] = a (y[n-1] + x[n] - x[n-1])
    double lim_ua             # AC: the modelled current that flows never exceeds this
    double head_ua            # AC: the pre-emphasised drive never exceeds this
    double xprev[MW_MAX_CH]
    double yprev[MW_MAX_CH]


cdef inline void stage_reset(mw_stage* s) noexcept nogil:
    cdef int c
    for c in range(MW_MAX_CH):
        s.xprev[c] = 0.0
        s.yprev[c] = 0.0


cdef inline float _clamp(float x, float lim) noexcept nogil:
    # selects, not branches, so the loops vectorise; NaN never leaves (-> 0)
    x = x if x == x else 0.0
    x = x if x < lim else lim
    x = x if x > -lim else -lim
    return x


cdef inline void _stage_shape(mw_stage* s, int c, float* ua, Py_ssize_t frames) noexcept nogil:
    """Program channel c's current (uA) -> its clamped DAC values, in place."""
    cdef Py_ssize_t f
    cdef double x, y, xi, lo, hi, g = s.gain[c]
    cdef float lim = s.clamp, gf = <float>g
    if s.compensate:
        x = s.xprev[c]
        y = s.yprev[c]
        for f in range(frames):
            # x[n] = x[n-1] + y[n] / a - y[n-1]: the input whose high-passed
            # output is y; bounded so that the modelled current stays within
            # lim_ua and the drive within head_ua (the bounds always intersect)
            xi = x + ua[f] / s.hp_a - y
            lo = x - y - s.lim_ua / s.hp_a
            hi = x - y + s.lim_ua / s.hp_a
            if lo < -s.head_ua:
                lo = -s.head_ua
            if hi > s.head_ua:
                hi = s.head_ua
            if xi < lo:
                xi = lo
            elif xi > hi:
                xi = hi
            y = s.hp_a * (y + xi - x)
            x = xi
            ua[f] = <float>x
        s.xprev[c] = x
        s.yprev[c] = y
    # gain and clamp in place: a contiguous loop the compiler vectorises
    for f in range(frames):
        ua[f] = _clamp(gf * ua[f], lim)


cdef inline void _stage_route(const mw_stage* s, int c, const float* v, float* out, Py_ssize_t frames) noexcept nogil:
    """Interleave channel c's DAC values into its DAC channel(s) of out."""
    cdef Py_ssize_t f
    cdef int C = s.out_channels, p = s.pos[c], q = s.neg[c]
    if C == 1:
        memcpy(out, v, frames * sizeof(float))
    elif q < 0:
        for f in range(frames):
            out[f * C + p] = v[f]
    else:
        for f in range(frames):
            out[f * C + p] = v[f]
            out[f * C + q] = -v[f]


cdef inline void stage_apply(mw_stage* s, float* ua, Py_ssize_t stride, float* out, Py_ssize_t frames) noexcept nogil:
    """Map every program channel's current (uA; channel c at ua + c * stride,
    overwritten) into the interleaved DAC frames of out, clamped."""
    cdef int c
    cdef Py_ssize_t f
    cdef const float* a = ua
    cdef const float* b = ua + stride
    for c in range(s.n_prog):
        _stage_shape(s, c, ua + c * stride, frames)
    if (s.out_channels == 2 and s.n_prog == 2 and s.pos[0] == 0 and s.pos[1] == 1
            and s.neg[0] < 0 and s.neg[1] < 0):
        # two channels straight to a stereo card: one pass that vectorises
        for f in range(frames):
            out[2 * f] = a[f]
            out[2 * f + 1] = b[f]
        return
    for c in range(s.n_prog):
        _stage_route(s, c, ua + c * stride, out, frames)
