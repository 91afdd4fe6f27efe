# Declarations only: the output stage (csrc/mw_stage.h).
from libc.stdint cimport int64_t, uint64_t
from mw_limits cimport MW_MAX_CH
from mw_supervisor cimport mw_sup, mw_sup_ch

cdef extern from "mw_stage.h" nogil:
    ctypedef struct mw_stage:
        int out_channels
        int n_prog
        int pos[MW_MAX_CH]
        int neg[MW_MAX_CH]
        double gain[MW_MAX_CH]
        float clamp
        bint ac
        uint64_t clamped
        mw_sup sup
        mw_sup_ch ch[MW_MAX_CH]

    bint stage_settled(const mw_stage* s)
    bint stage_drained(const mw_stage* s)
    void stage_cut(mw_stage* s)
    void stage_apply(mw_stage* s, float* ua, Py_ssize_t stride, float* out, Py_ssize_t frames, int64_t t0, bint bleed)
