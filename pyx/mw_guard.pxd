# Declarations only: one filler at a time (csrc/mw_guard.h).
from libc.stdint cimport int64_t

cdef extern from "mw_guard.h" nogil:
    bint mw_enter(int* busy)
    void mw_leave(int* busy)
    void mw_publish_i64(int64_t* p, int64_t v)
    int64_t mw_acquire_i64(const int64_t* p)
