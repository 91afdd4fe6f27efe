# Ramps and envelopes: an amplitude multiplier applied to a block in place.
#
# An envelope is a list of segments, each going from one level to another
# over a whole number of samples with a shape (hold, linear, raised-cosine,
# exponential), played once (then holding a final level) or looped.  The
# level of every sample comes from its integer position in its segment, so
# it is the same whatever the block size.  Curved shapes are polynomials
# (error below 1e-8, exactly 0 at the start of a segment, pyx/mw_shapes.h);
# every sample of a ramp goes through the same branch-free loop, which the
# compiler vectorises.
from libc.stdint cimport int64_t

cdef enum:
    MW_MAX_SEGS = 32
    MW_CHUNK = 1 << 20          # a ramp is applied in chunks indexed by a C int
    # (the ramp shapes are numbered as MW_RAMP_* in mw_shapes.h)
    MW_SHAPE_HOLD = 0
    MW_SHAPE_LINEAR = 1
    MW_SHAPE_COSINE = 2
    MW_SHAPE_EXP = 3


cdef extern from "mw_shapes.h" nogil:
    # o[j] *= a + d * shape((b + j) * inv), j < n; linear: a + slope * (b + j)
    void mw_ramp_apply(float* o, int n, int shape, double b, double inv, double a, double d, double slope)


cdef struct mw_envelope:
    int n                       # segments; 0 = no envelope (unity)
    bint loop
    int64_t length[MW_MAX_SEGS] # samples, > 0
    int shape[MW_MAX_SEGS]
    double a[MW_MAX_SEGS]       # level at the start of the segment
    double b[MW_MAX_SEGS]       # level it reaches at the end
    double after                # level once a non-looping envelope has ended
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


cdef inline void _ramp(float* out, Py_ssize_t m, int64_t p0, int64_t L, int sh, double a, double d) noexcept nogil:
    """out[j] *= the level at position p0 + j of a segment of L samples that
    goes from a to a + d with shape sh (linear, cosine or exp): every sample
    (no branch), in chunks indexed by a C int so that the loop vectorises.
    b + j is exact (integers below 2**53), so a level depends only on its
    position, never on where a block starts."""
    cdef Py_ssize_t c = 0
    cdef int mm
    while c < m:
        mm = <int>(m - c if m - c < MW_CHUNK else MW_CHUNK)
        mw_ramp_apply(out + c, mm, sh, <double>(p0 + c), 1.0 / L, a, d, d / L)
        c += mm


cdef inline void _env_next(mw_envelope* e) noexcept nogil:
    """On to the next segment (round again, or done, after the last)."""
    e.pos = 0
    e.idx += 1
    if e.idx == e.n:
        if e.loop:
            e.idx = 0
        else:
            e.done = True


cdef inline void env_apply(mw_envelope* e, float* out, Py_ssize_t N) noexcept nogil:
    """Multiply the next N samples of out by the envelope."""
    cdef Py_ssize_t pos = 0, m
    cdef int64_t L
    cdef double a, d
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
        if e.shape[e.idx] == MW_SHAPE_HOLD or d == 0.0:
            _scale(out + pos, m, a)
        else:
            _ramp(out + pos, m, e.pos, L, e.shape[e.idx], a, d)
        pos += m
        e.pos += m
        if e.pos == L:
            _env_next(e)


cdef inline void env_skip(mw_envelope* e, int64_t k) noexcept nogil:
    """Move the envelope k samples on without applying it."""
    cdef int64_t r, cycle = 0
    cdef int i
    if e.loop and k > 0 and not e.done:
        for i in range(e.n):
            cycle += e.length[i]
        if k > 2 * cycle:     # whole loops change nothing
            k -= (k // cycle - 1) * cycle
    while k > 0 and not e.done:
        r = e.length[e.idx] - e.pos
        if k < r:
            e.pos += k
            return
        k -= r
        _env_next(e)


cdef inline float env_level(const mw_envelope* e) noexcept nogil:
    """The level of the current sample, as env_apply would scale a 1.0 by it
    (the same arithmetic: the same bits)."""
    cdef float x = 1.0
    cdef int64_t L
    cdef double a, d
    if e.n == 0:
        return 1.0
    if e.done:
        return <float>e.after
    a = e.a[e.idx]
    d = e.b[e.idx] - a
    if e.shape[e.idx] == MW_SHAPE_HOLD or d == 0.0:
        return <float>a
    L = e.length[e.idx]
    mw_ramp_apply(&x, 1, e.shape[e.idx], <double>e.pos, 1.0 / L, a, d, d / L)
    return x
