# Declarations only: what the kernels need beyond ISO C, once for every
# compiler and system (csrc/mw_port.h).
cdef extern from "mw_port.h" nogil:
    # a buffer aligned to `align` bytes, or NULL; give it back with mw_aligned_free only
    void* mw_aligned_alloc(size_t align, size_t size)
    void mw_aligned_free(void* p)
    # seconds on a monotonic clock
    double mw_seconds_now()
