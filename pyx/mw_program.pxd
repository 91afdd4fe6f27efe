# One channel's program: a pulse train (with its polarity pattern) shaped by
# an envelope.  This is the unit the renderers, the output stage and the
# real-time callback drive, one block at a time, with no Python involved.
from mw_pulse cimport mw_train, train_start, train_fill, train_release, train_disown, MW_STREAM_MIN
from mw_envelope cimport mw_envelope, env_reset, env_apply


cdef struct mw_program:
    mw_train train
    mw_envelope env      # the spec's own envelope (ramps, wave slope)
    mw_envelope gate     # a session step's soft start and soft stop
    int busy             # a thread is filling it (mw_guard.h)


cdef inline void program_start(mw_program* p) noexcept nogil:
    train_start(&p.train)
    env_reset(&p.env)
    env_reset(&p.gate)


cdef inline void program_release(mw_program* p) noexcept nogil:
    """Free what program_start allocated (the train's tile)."""
    train_release(&p.train)


cdef inline void program_disown(mw_program* p) noexcept nogil:
    """After a byte copy of another program: drop the pointers it owns."""
    train_disown(&p.train)


cdef inline void program_fill(mw_program* p, float* out, Py_ssize_t n) noexcept nogil:
    # a fill far larger than the cache that no envelope reads back again
    p.train.stream = n >= MW_STREAM_MIN and p.env.n == 0 and p.gate.n == 0
    train_fill(&p.train, out, n)
    env_apply(&p.env, out, n)
    env_apply(&p.gate, out, n)
