# Declarations only: one channel's program, a train shaped by an envelope
# with one gain per unit (csrc/mw_program.h).
from libc.stdint cimport int64_t
from mw_train cimport mw_train, mw_split
from mw_envelope cimport mw_envelope

cdef extern from "mw_program.h" nogil:
    ctypedef struct mw_program:
        mw_train train
        mw_envelope env
        mw_envelope gate
        int busy
        int unit_pulses

    void program_start(mw_program* p)
    void program_fill(mw_program* p, float* out, Py_ssize_t n, const float* level)
    bint program_split_fits(const mw_program* p, Py_ssize_t n)
    bint program_split_begin(mw_program* p, float* out, Py_ssize_t n, mw_split* job)
    void program_split_end(mw_program* p, mw_split* job)
    void program_release(mw_program* p)
    void program_disown(mw_program* p)
    int64_t program_tile_need(const mw_program* p)
    void program_load(mw_program* slot, const mw_program* src)
    bint program_shaped(const mw_program* p)
