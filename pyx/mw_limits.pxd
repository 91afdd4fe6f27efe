# Declarations only: the limits and enums every unit shares (csrc/mw_limits.h).
cdef extern from "mw_limits.h" nogil:
    enum:
        MW_MAX_BP
        MW_MAX_STATES
        MW_MAX_SEGS
        MW_MAX_CH
        MW_SHAPE_HOLD
        MW_SHAPE_LINEAR
        MW_SHAPE_COSINE
        MW_SHAPE_EXP
        MW_POL_REST
        MW_POL_POS
        MW_POL_NEG
        MW_POL_ALT
        MW_SCHED_REGULAR
        MW_SCHED_SWEEP
        MW_SCHED_CUSTOM
