# Declarations only: the last-level cache the kernels chose their stores by
# (csrc/mw_stream.h).
cdef extern from "mw_stream.h" nogil:
    size_t mw_llc_bytes()
