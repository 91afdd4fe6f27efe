# Declarations only: one filler at a time (csrc/mw_guard.h).
cdef extern from "mw_guard.h" nogil:
    bint mw_enter(int* busy)
    void mw_leave(int* busy)
