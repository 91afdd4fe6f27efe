# Ramps and envelopes: an amplitude multiplier applied to a block in place.
#
# An envelope is a list of segments, each going from one level to another
# over a whole number of samples with a shape (hold, linear, raised-cosine,
# exponential), played once (then holding a final level) or looped.  The
# level of every sample comes from its integer position in its segment, so
# it is the same whatever the block size.  Curved shapes are read from a
# 8192-interval table with linear interpolation (error below 1e-7).
from libc.stdint cimport int64_t

cdef enum:
    MW_MAX_SEGS = 32
    MW_TABLE_N = 8192
    MW_SHAPE_HOLD = 0
    MW_SHAPE_LINEAR = 1
    MW_SHAPE_COSINE = 2
    MW_SHAPE_EXP = 3


cdef struct mw_envelope:
    int n                       # segments; 0 = no envelope (unity)
    bint loop
    int64_t length[MW_MAX_SEGS] # samples, > 0
    int shape[MW_MAX_SEGS]
    double a[MW_MAX_SEGS]       # level at the start of the segment
    double b[MW_MAX_SEGS]       # level it reaches at the end
    double after                # level once a non-looping envelope has ended
    const double* tables        # (MW_SHAPE_EXP + 1) * (MW_TABLE_N + 1) doubles
    # running state
    int idx
    int64_t pos
    bint done


cdef inline void env_reset(mw_envelope* e) noexcept nogil:
    e.idx = 0
    e.pos = 0
    e.done = e.n == 0


cdef inline void _scale(float* out, Py_ssize_t m, double level) noexcept nogil:
    cdef Py_ssize_t j
    cdef float g = <float>level
    if level == 1.0:
        return
    if level == 0.0:
        for j in range(m):
            out[j] = 0.0
        return
    for j in range(m):
        out[j] = out[j] * g


cdef inline void env_apply(mw_envelope* e, float* out, Py_ssize_t N) noexcept nogil:
    """Multiply the next N samples of out by the envelope."""
    cdef Py_ssize_t pos = 0, m, j
    cdef int64_t L
    cdef double a, d, x, inv, fr, base
    cdef const double* tab
    cdef int ix, sh
    while pos < N:
        if e.done:
            _scale(out + pos, N - pos, e.after if e.n > 0 else 1.0)
            return
        L = e.length[e.idx]
        m = N - pos
        if L - e.pos < m:
            m = L - e.pos
        a = e.a[e.idx]
        d = e.b[e.idx] - a
        sh = e.shape[e.idx]
        if sh == MW_SHAPE_HOLD or d == 0.0:
            _scale(out + pos, m, a)
        elif sh == MW_SHAPE_LINEAR:
            inv = d / L
            base = <double>e.pos
            for j in range(m):
                # only where there is current: trains are mostly rest
                if out[pos + j] != 0.0:
                    out[pos + j] = out[pos + j] * <float>(a + inv * (base + j))
        else:
            tab = e.tables + sh * (MW_TABLE_N + 1)
            inv = (<double>MW_TABLE_N) / L
            base = <double>e.pos
            for j in range(m):
                if out[pos + j] != 0.0:
                    x = inv * (base + j)
                    ix = <int>x
                    fr = x - ix
                    out[pos + j] = out[pos + j] * <float>(a + d * (tab[ix] + fr * (tab[ix + 1] - tab[ix])))
        pos += m
        e.pos += m
        if e.pos == L:
            e.pos = 0
            e.idx += 1
            if e.idx == e.n:
                if e.loop:
                    e.idx = 0
                else:
                    e.done = True

