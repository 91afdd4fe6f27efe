# Declarations only: ramps and envelopes (csrc/mw_envelope.h).
from libc.stdint cimport int64_t
from mw_limits cimport MW_MAX_SEGS

cdef extern from "mw_envelope.h" nogil:
    ctypedef struct mw_envelope:
        int n
        bint loop
        int64_t length[MW_MAX_SEGS]
        int shape[MW_MAX_SEGS]
        double a[MW_MAX_SEGS]
        double b[MW_MAX_SEGS]
        double after
        int idx
        int64_t pos
        bint done

    void env_reset(mw_envelope* e)
    void env_apply(mw_envelope* e, float* out, Py_ssize_t N)
    void env_skip(mw_envelope* e, int64_t k)
    float env_level(const mw_envelope* e)
