# Declarations only: the delivered record's entry, its ring and the
# consumer's side (csrc/mw_record.h).
from libc.stdint cimport int32_t, int64_t, uint64_t
from mw_stage cimport mw_stage

cdef extern from "mw_record.h" nogil:
    double MW_REC_FLUSH_S

    ctypedef struct mw_rec_entry:
        int32_t step
        int32_t n_ch
        int64_t start
        int64_t frames
        int64_t played
        uint64_t underflows
        double level_sum
        double level_max
        float peak_ua[32]
        double charge_pos_uc[32]
        double charge_neg_uc[32]

    ctypedef struct mw_record:
        bint on
        mw_rec_entry* ring
        int64_t cap
        int64_t head
        int64_t tail
        uint64_t merged
        mw_rec_entry cur
        int64_t flush_frames
        double inv_rate
        int n_ch
        double q[32]

    int rec_push(mw_record* r)
    void rec_finish(mw_record* r, const mw_stage* stage)
    Py_ssize_t rec_pop(mw_record* r, mw_rec_entry* out, Py_ssize_t n)
