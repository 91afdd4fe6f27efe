# One channel's program: a pulse train (with its polarity pattern) shaped by
# an envelope.  This is the unit the renderers, the output stage and the
# real-time callback drive, one block at a time, with no Python involved.
#
# Gain is applied a pulse at a time.  The envelope, a session step's soft
# start and stop (the gate) and the session's live level make a gain that
# moves sample by sample; a pulse (or an alternating pair of monophasic
# pulses: a *unit*) takes that gain at the sample where it starts and keeps
# it to its end, so that its phases carry equal and opposite charge however
# the gain moves.  Units never overlap (a pulse ends before the next one
# starts), except in the one sample where a unit starts: there the part of
# the sample before the onset keeps the previous unit's gain.
from libc.stdint cimport int64_t
from mw_pulse cimport (mw_train, mw_schedule, train_start, train_fill, train_release, train_disown, train_tile_need,
                       sched_next, sched_reset, tpl_cum, MW_STREAM_MIN)
from mw_pattern cimport mw_pattern, pattern_reset, pattern_sign
from mw_envelope cimport mw_envelope, env_reset, env_skip, env_level

cdef struct mw_program:
    mw_train train
    mw_envelope env      # the spec's own envelope (ramps, wave slope)
    mw_envelope gate     # a session step's soft start and soft stop
    int busy             # a thread is filling it (mw_guard.h)
    # one gain per unit: the train's schedule and pattern walked in step
    int unit_pulses      # pulses a unit: 1, or 2 (an alternating pair of monophasic pulses)
    mw_schedule gsched
    mw_pattern gpat
    int64_t gpos         # absolute sample of the next gain to apply
    int64_t gpos_env     # the envelope's and the gate's position (absolute sample)
    bint g_has_next      # the next pulse's onset (whole + frac samples) and signed amplitude
    int64_t g_next_w
    double g_next_f, g_next_a
    int64_t g_k          # index of that pulse
    double g_last_end    # where the pulse before it ends (absolute samples)
    float held           # the gain of the unit in progress


cdef inline void _gain_fetch(mw_program* p) noexcept nogil:
    cdef double amp
    if p.g_has_next:
        p.g_last_end = <double>p.g_next_w + p.g_next_f + p.train.tpl.end
    p.g_k = p.gsched.k
    p.g_has_next = sched_next(&p.gsched, &p.g_next_w, &p.g_next_f, &amp)
    if p.g_has_next:
        p.g_next_a = p.train.sign * amp * pattern_sign(&p.gpat, p.g_next_w)


cdef inline void program_start(mw_program* p) noexcept nogil:
    train_start(&p.train)
    env_reset(&p.env)
    env_reset(&p.gate)
    p.gsched = p.train.sched
    sched_reset(&p.gsched)
    p.gpat = p.train.pat
    pattern_reset(&p.gpat)
    p.gpos = 0
    p.gpos_env = 0
    p.held = 0.0
    p.g_has_next = False
    p.g_last_end = 0.0
    if p.unit_pulses < 1:
        p.unit_pulses = 1
    _gain_fetch(p)


cdef inline void program_release(mw_program* p) noexcept nogil:
    """Free what program_start allocated (the train's tile)."""
    train_release(&p.train)


cdef inline void program_disown(mw_program* p) noexcept nogil:
    """After a byte copy of another program: drop the pointers it owns."""
    train_disown(&p.train)


cdef inline int64_t program_tile_need(const mw_program* p) noexcept nogil:
    """The floats a tile of this program's train may need (0: never tiled)."""
    return train_tile_need(&p.train)


cdef inline void program_load(mw_program* slot, const mw_program* src) noexcept nogil:
    """Make ``slot`` -- a program whose tile and saved state belong to a
    pool -- a copy of ``src`` (a compiled program that is never run),
    keeping the slot's buffers, its tile not yet recorded.  Nothing is
    allocated or freed, so the audio thread may do it."""
    cdef float* tile = slot.train.tile
    cdef int64_t cap = slot.train.tile_cap
    cdef mw_train* snap = slot.train.snap
    slot[0] = src[0]
    train_disown(&slot.train)
    slot.train.tile = tile
    slot.train.tile_cap = cap
    slot.train.snap = snap
    slot.train.pooled = True
    slot.busy = 0


cdef inline bint program_shaped(const mw_program* p) noexcept nogil:
    """Some gain other than 1 may apply (an envelope or a gate)."""
    return p.env.n > 0 or p.gate.n > 0


cdef inline float _gain_at(mw_program* p, int64_t sample, const float* level, Py_ssize_t j) noexcept nogil:
    """The gain that moves sample by sample (envelope x gate x level, in
    float32, in that order) at ``sample``, level[j] being its live level."""
    cdef float g
    env_skip(&p.env, sample - p.gpos_env)
    env_skip(&p.gate, sample - p.gpos_env)
    p.gpos_env = sample
    g = env_level(&p.env) * env_level(&p.gate)
    if level != NULL:
        g = g * level[j]
    return g


cdef inline void _gain_hold(mw_program* p, float* out, Py_ssize_t n, const float* level) noexcept nogil:
    """out (n samples from p.gpos, rendered at unit gain) *= each unit's gain,
    taken where the unit starts."""
    cdef Py_ssize_t j = 0, b, i
    cdef int64_t n0 = p.gpos
    cdef float h, g
    cdef double head, v
    while p.g_has_next and p.g_next_w < n0:
        # pulses that started while no gain applied (the gain was 1 then)
        if p.g_k % p.unit_pulses == 0:
            p.held = 1.0
        _gain_fetch(p)
    while j < n:
        b = n
        if p.g_has_next and p.g_next_w < n0 + n:
            b = p.g_next_w - n0
        h = p.held
        if h != 1.0:
            for i in range(j, b):
                out[i] = out[i] * h
        j = b
        if b >= n:
            break
        if p.g_k % p.unit_pulses == 0:
            g = _gain_at(p, n0 + b, level, b)
            if g != h:
                if p.g_last_end > <double>(n0 + b):
                    # a unit starts inside sample b while the one before
                    # still ends in it: the part before the onset keeps
                    # the previous unit's gain
                    head = p.g_next_a * tpl_cum(&p.train.tpl, 1.0 - p.g_next_f)
                    v = out[b]
                    out[b] = <float>(<double>h * (v - head) + <double>g * head)
                    j = b + 1
                p.held = g
        _gain_fetch(p)
    env_skip(&p.env, n0 + n - p.gpos_env)
    env_skip(&p.gate, n0 + n - p.gpos_env)
    p.gpos_env = n0 + n
    p.gpos = n0 + n


cdef inline void program_fill(mw_program* p, float* out, Py_ssize_t n, const float* level) noexcept nogil:
    """The next n samples: the train at unit gain, then one gain per unit.
    ``level`` (n samples, or NULL for 1) is a gain from outside (the
    session's live level).  A unit's gain is envelope x gate x level at the
    sample where it starts, each a float32 and their product taken in
    float32 (so that a reference in numpy gives the same bits); it is worked
    out once a unit, so a held gain costs one multiply a sample, or none."""
    # a fill far larger than the cache that no gain reads back again
    p.train.stream = n >= MW_STREAM_MIN and not program_shaped(p) and level == NULL
    train_fill(&p.train, out, n)
    if not program_shaped(p) and level == NULL:
        p.held = 1.0
        p.gpos += n
        p.gpos_env = p.gpos
        return
    _gain_hold(p, out, n, level)
