# The output stage: uA -> DAC samples, the only place that knows volts.
#
# For each program channel: the supervisor (csrc/mw_supervisor.h), which
# keeps the current that flows within the stage's limit -- through an
# AC-coupled card it also pre-emphasises, so that the current that flows is
# the one asked for, and bounds the charge the coupling stores -- then a
# destination: one DAC channel, or a bridged pair driven in antiphase.  The
# clamp to the stage's safe maximum is the last operation on every sample,
# here, in compiled code, and every sample it changes is counted.
from libc.string cimport memcpy
from libc.stdint cimport int64_t, uint64_t
from mw_supervisor cimport mw_sup, mw_sup_ch, mw_sup_run, mw_sup_settled

cdef enum:
    MW_MAX_CH = 32


cdef struct mw_stage:
    int out_channels
    int n_prog
    int pos[MW_MAX_CH]        # DAC channel of each program channel
    int neg[MW_MAX_CH]        # its antiphase partner (bridged), or -1
    double gain[MW_MAX_CH]    # DAC units per uA, per DAC channel of the pair
    float clamp               # DC: |DAC sample| never exceeds this
    bint ac                   # AC-coupled: the supervisor shapes every sample
    uint64_t clamped          # DC: samples the clamp changed
    mw_sup sup                # AC: the model of the coupling and its bounds
    mw_sup_ch ch[MW_MAX_CH]   # AC: each program channel's coupling state


cdef inline bint stage_settled(const mw_stage* s) noexcept nogil:
    """Nothing is stored in a coupling: the DAC may stop now."""
    cdef int c
    if not s.ac:
        return True
    for c in range(s.n_prog):
        if not mw_sup_settled(&s.ch[c]):
            return False
    return True


cdef inline float _clamp(float x, float lim) noexcept nogil:
    # selects, not branches, so the loops vectorise; NaN never leaves (-> 0)
    x = x if x == x else 0.0
    x = x if x < lim else lim
    x = x if x > -lim else -lim
    return x


cdef inline void _dc_clamp(mw_stage* s, float* ua, Py_ssize_t frames, float gf) noexcept nogil:
    """A DC-coupled stage: the current is the drive.  Gain and clamp in
    place, counting the samples the clamp changed (a NaN differs from
    everything): one contiguous loop of selects that the compiler
    vectorises, the count in int lanes (frames <= MW_BLOCK)."""
    cdef Py_ssize_t f
    cdef float lim = s.clamp, v, w
    cdef int over = 0
    for f in range(frames):
        v = gf * ua[f]
        w = _clamp(v, lim)
        over += w != v
        ua[f] = w
    s.clamped += over


cdef inline void _stage_shape(mw_stage* s, int c, float* ua, Py_ssize_t frames, int64_t t0, bint bleed) noexcept nogil:
    """Program channel c's current (uA) -> its DAC values, in place
    (frames <= MW_BLOCK)."""
    if s.ac:
        mw_sup_run(&s.sup, &s.ch[c], c, ua, frames, t0, bleed)
    else:
        # DC: the current is the drive; gain and clamp in place, counted
        _dc_clamp(s, ua, frames, <float>s.gain[c])


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


cdef inline void stage_apply(mw_stage* s, float* ua, Py_ssize_t stride, float* out, Py_ssize_t frames,
                             int64_t t0, bint bleed) noexcept nogil:
    """Map every program channel's current (uA; channel c at ua + c * stride,
    overwritten) into the interleaved DAC frames of out, clamped.  t0 is
    the session sample of the first frame; ``bleed``: the programs are
    silent and the couplings give back what they store."""
    cdef int c
    cdef Py_ssize_t f
    cdef const float* a = ua
    cdef const float* b = ua + stride
    for c in range(s.n_prog):
        _stage_shape(s, c, ua + c * stride, frames, t0, bleed)
    if (s.out_channels == 2 and s.n_prog == 2 and s.pos[0] == 0 and s.pos[1] == 1
            and s.neg[0] < 0 and s.neg[1] < 0):
        # two channels straight to a stereo card: one pass that vectorises
        for f in range(frames):
            out[2 * f] = a[f]
            out[2 * f + 1] = b[f]
        return
    for c in range(s.n_prog):
        _stage_route(s, c, ua + c * stride, out, frames)
