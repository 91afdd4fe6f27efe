# Declarations only: polarity patterns (csrc/mw_pattern.h).
from libc.stdint cimport int64_t
from mw_limits cimport MW_MAX_STATES

cdef extern from "mw_pattern.h" nogil:
    ctypedef struct mw_pattern:
        int n
        bint by_time
        int kind[MW_MAX_STATES]
        int64_t length[MW_MAX_STATES]
        int idx
        int64_t count
        int64_t state_end
        int alt_sign

    void pattern_reset(mw_pattern* p)
    int pattern_sign(mw_pattern* p, int64_t onset_sample)
