# generator.pxi -- included by pyx/_core.pyx (one extension, microwave._core).
#
# Compiled generators behind microwave's specs.
#
# The Python specs (microwave.pulses) validate physical parameters and reduce
# them to a *plan*: a microwave.plans.ProgramPlan, numbers in samples and uA.
# `Generator(plan)` copies the plan into a C struct (mw_program) and from then
# on everything runs in nogil C: `fill(out)` writes the next len(out) samples,
# continuing exactly.
#
from libc.string cimport memset
from libc.stdint cimport int64_t
from cpython.buffer cimport PyBuffer_Release, PyBUF_WRITABLE, PyBUF_C_CONTIGUOUS, PyBUF_FORMAT
from cpython.exc cimport PyErr_Clear
from cpython.pycapsule cimport PyCapsule_New
import os as _os
import numpy as np
from microwave import _checks

from mw_limits cimport (MW_MAX_BP, MW_MAX_STATES, MW_MAX_SEGS, MW_MAX_CH, MW_SHAPE_HOLD, MW_SHAPE_LINEAR,
                        MW_SHAPE_COSINE, MW_SHAPE_EXP, MW_POL_REST, MW_POL_POS, MW_POL_NEG, MW_POL_ALT,
                        MW_SCHED_REGULAR, MW_SCHED_SWEEP, MW_SCHED_CUSTOM)
from mw_schedule cimport mw_rat, mw_schedule, mw_log, sched_next, sched_reset
from mw_template cimport mw_template, tpl_finish
from mw_pattern cimport mw_pattern
from mw_envelope cimport mw_envelope
from mw_program cimport (mw_program, program_start, program_fill, program_release, program_split_fits,
                         program_split_begin, program_split_end)
from mw_train cimport MW_SPLIT_MIN, mw_split, train_split_first, train_split_second
from mw_guard cimport mw_enter, mw_leave
from mw_stream cimport mw_llc_bytes

# the limits and kinds of csrc/mw_limits.h: the one source of these numbers
# (microwave.patterns and microwave.envelopes import them from here)
MAX_BREAKPOINTS = MW_MAX_BP
MAX_STATES = MW_MAX_STATES
MAX_SEGMENTS = MW_MAX_SEGS
MAX_CHANNELS = MW_MAX_CH
SHAPES = {"hold": MW_SHAPE_HOLD, "linear": MW_SHAPE_LINEAR, "cosine": MW_SHAPE_COSINE, "exp": MW_SHAPE_EXP}
POLARITIES = {"rest": MW_POL_REST, "positive": MW_POL_POS, "negative": MW_POL_NEG, "alternate": MW_POL_ALT}
#: the last-level cache the kernels read when they loaded, bytes: a fill larger than this
#: bypasses the cache (csrc/mw_stream.h)
LLC_BYTES = mw_llc_bytes()


# PyObject_GetBuffer as a plain C call (no exception check): a fill tests the
# result itself, and only on failure builds the error that names the
# parameter (_fill_error), so the success path costs nothing more
cdef extern from "Python.h":
    int _get_buffer "PyObject_GetBuffer" (object obj, Py_buffer* view, int flags) noexcept

#: what a fill asks of the buffer it writes into
cdef int FILL_FLAGS = PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT


from sys import byteorder as _byteorder
cdef bint LITTLE_ENDIAN = _byteorder == "little"


cdef inline bint _is_float32(const char* fmt) noexcept nogil:
    # the struct format of a native float32: "f" (numpy's, tested first), "@f",
    # "=f", or "<f" on a little-endian machine (ctypes')
    if fmt == NULL:
        return False
    if fmt[0] == b'f':
        return fmt[1] == 0
    return ((fmt[0] == b'@' or fmt[0] == b'=' or (fmt[0] == b'<' and LITTLE_ENDIAN))
            and fmt[1] == b'f' and fmt[2] == 0)


cdef object _fill_error(object out, str where, str param, str shape, str why=""):
    """The error for a buffer ``where`` (e.g. "Generator.fill") cannot write
    into: it names ``param``, says what was given (type; element type,
    shape, writable, contiguous) and what is allowed (``why``: the reason
    for the shape, if any).  A TypeError for an
    object that is not a buffer at all, else a ValueError.  Called with no
    Python error pending (a failed _get_buffer's is cleared first)."""
    import reprlib
    allowed = (f"{where}({param}) needs a writable, C-contiguous float32 array of shape {shape}{why} "
               f"(numpy.zeros({shape}, dtype=numpy.float32))")
    if isinstance(out, np.ndarray):
        flags = ("writable" if out.flags.writeable else "read-only") + \
                ("" if out.flags.c_contiguous else ", not C-contiguous")
        return ValueError(f"{param} is a {out.dtype} array of shape {out.shape} ({flags}): {allowed}")
    try:
        m = memoryview(out)
    except TypeError:
        return TypeError(f"{param}={reprlib.repr(out)} ({type(out).__name__}) is not an array: {allowed}")
    try:
        kind = str(np.dtype(m.format))
    except TypeError:
        kind = f"format {m.format!r}"
    flags = ("read-only" if m.readonly else "writable") + ("" if m.c_contiguous else ", not C-contiguous")
    return ValueError(f"{param} is a buffer ({type(out).__name__}) of {kind}, shape {m.shape} ({flags}): {allowed}")


#: the most samples (or frames) one render allocates
MAX_RENDER = 1 << 40


cdef int64_t _count(str name, object value, int64_t lo, int64_t hi, str what) except? -1:
    """``value`` as a whole number from ``lo`` to ``hi``, or an error naming
    ``name``, its value and what is allowed (``what``: what it counts)."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{name}={_checks.shown(value)} must be a whole number of {what}, {lo} to {hi}")
    v = value.__index__()
    if not lo <= v <= hi:
        raise ValueError(f"{name}={_checks.shown(v)} is not allowed: a whole number of {what}, {lo} to {hi}")
    return v


cdef object _new_f32(str name, object value, tuple shape):
    """A new float32 array of ``shape``, or a MemoryError naming ``name``
    (which asked for it), its size and the way out."""
    return _checks.new_f32(shape, f"{name}={value}",
                           "ask for less, or fill a buffer of your own a block at a time (fill)")


cdef int _check_limit(str what, Py_ssize_t n, Py_ssize_t limit, str name, str unit) except -1:
    # every fixed array of the C state is filled only after its limit is checked
    if n > limit:
        raise ValueError(f"{what} has {n} {unit}: at most {name}={limit} fit the compiled state")
    return 0


cdef void _set_rat(mw_rat* r, object value):
    # a microwave.plans.Rational
    r.whole, r.rem, r.den = value.whole, value.rem, value.den


cdef int _set_envelope(mw_envelope* e, object env, str what) except -1:
    # a microwave.plans.EnvelopePlan (or None)
    cdef int i
    if env is None:
        return 0
    lengths, shapes, a, b = env.lengths_samples, env.shapes, env.from_levels, env.to_levels
    _check_limit(what, len(lengths), MW_MAX_SEGS, "MAX_SEGMENTS", "segments")
    e.n = len(lengths)
    e.loop = env.loop
    e.after = env.after_level
    for i in range(e.n):
        e.length[i] = lengths[i]
        e.shape[i] = shapes[i]
        e.a[i] = a[i]
        e.b[i] = b[i]
    return 0


# microwave.plans, imported when the first generator is built (it imports this module's limits)
cdef object _plans = None

cdef object _plans_module():
    global _plans
    if _plans is None:
        from microwave import plans
        _plans = plans
    return _plans


# ---- one large fill in two threads (csrc/mw_train.h: train_split_begin) ----
#
# The second thread is Python's own (PyThread_start_new_thread: the
# interpreter's threads, so the extension links no thread library of its
# own); it runs C alone, never Python, and is waited for before fill
# returns.

cdef extern from "pythread.h":
    ctypedef void* PyThread_type_lock
    unsigned long PyThread_start_new_thread(void (*)(void*) noexcept nogil, void*)
    PyThread_type_lock PyThread_allocate_lock()
    void PyThread_free_lock(PyThread_type_lock)
    int PyThread_acquire_lock(PyThread_type_lock, int) nogil
    void PyThread_release_lock(PyThread_type_lock) nogil
    unsigned long PYTHREAD_INVALID_THREAD_ID
    int WAIT_LOCK

#: the least fill that may run in two threads, samples (csrc/mw_train.h MW_SPLIT_MIN)
SPLIT_MIN_SAMPLES = MW_SPLIT_MIN


def fill_threads():
    """The threads a large fill of a train rendered pulse by pulse runs in
    now (see :meth:`Generator.fill`): 2 where this process may run on two
    processors or more (``os.sched_getaffinity``, else ``os.cpu_count``),
    else 1; 1 as well where the environment variable ``MICROWAVE_THREADS``
    is 1 (a positive whole number: at most that many threads).  Read by
    each fill that would run in two threads, and only by those: a bad
    value refuses such a fill (ValueError naming it; nothing written)."""
    text = _os.environ.get("MICROWAVE_THREADS")
    most = 2
    if text is not None:
        try:
            most = int(text)
        except ValueError:
            most = 0
        if most < 1:
            raise ValueError(f"the environment variable MICROWAVE_THREADS={text!r} must be a positive whole number "
                             f"(1: every fill in the calling thread), or unset")
    try:
        cpus = len(_os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = _os.cpu_count() or 1
    return max(1, min(2, most, cpus))


def _sweep_log(x):
    """The natural logarithm a log sweep's onsets are computed with
    (csrc/mw_log.h: within an ulp of ln, the same bits on every system), of
    each of ``x`` (a float, or an array: float64 of its shape); NaN where x
    is not positive, normal and finite.  Sweep.cycles takes it too (the
    held tail's first onset), and the tests check it here."""
    a = np.array(x, dtype=np.float64)
    cdef double[::1] src = a.reshape(-1)
    out = np.empty(a.shape, dtype=np.float64)
    cdef double[::1] dst = out.reshape(-1)
    cdef Py_ssize_t i
    with nogil:
        for i in range(src.shape[0]):
            dst[i] = mw_log(src[i])
    return float(out) if out.ndim == 0 else out


cdef struct _second_part:
    mw_split* job
    PyThread_type_lock done


cdef void _run_second_part(void* arg) noexcept nogil:
    cdef _second_part* run = <_second_part*>arg
    train_split_second(run.job)
    PyThread_release_lock(run.done)


cdef void _fill_split(mw_program* prog, mw_split* job):
    """A job program_split_begin set up: its second part in a thread of its
    own, the first here, then both ended; with no thread to be had, both
    here, one after the other (the same samples)."""
    cdef _second_part run
    cdef bint started = False
    run.job = job
    run.done = PyThread_allocate_lock()
    if run.done != NULL:
        PyThread_acquire_lock(run.done, WAIT_LOCK)          # released by the second part when done
        started = PyThread_start_new_thread(_run_second_part, &run) != PYTHREAD_INVALID_THREAD_ID
    with nogil:
        if not started:
            train_split_second(job)
        train_split_first(job)
        if started:
            PyThread_acquire_lock(run.done, WAIT_LOCK)
    if run.done != NULL:
        PyThread_release_lock(run.done)
        PyThread_free_lock(run.done)
    program_split_end(prog, job)


#: the name of the capsule that hands a generator's C state to compiled code
cdef const char* PROGRAM_CAPSULE = b"microwave._core.mw_program"

cdef class Generator:
    """Stateful compiled generator of one channel's current, in uA.

    Built from a plan by the spec classes; use ``spec.generator(rate)``.
    """
    cdef mw_program prog
    cdef readonly double rate
    cdef object _onsets, _amps

    def __cinit__(self, plan, *, bint tile=True, bint slots=True, bint rect=True):
        """``plan``: a microwave.plans.ProgramPlan (what a spec's ``plan(rate)``
        gives); its schedule's class is the timing kind.  ``tile`` and
        ``slots`` are for verification only (the tests compare the paths):
        ``tile=False`` renders pulse by pulse even where the train repeats;
        ``slots=False`` also renders every pulse sample run by sample run,
        none in one pass; ``rect=False`` renders a rectangular pulse (flat
        pieces and vertical edges) by the general piece-by-piece loop, not
        the fast one.  Every path gives the same bits."""
        cdef int i
        cdef mw_template* t = &self.prog.train.tpl
        cdef mw_schedule* s = &self.prog.train.sched
        cdef mw_pattern* p = &self.prog.train.pat
        plans = _plans_module()
        if not isinstance(plan, plans.ProgramPlan):
            raise TypeError(f"plan={plan!r} must be a microwave.plans.ProgramPlan (spec.plan(rate)), "
                            f"not {type(plan).__name__}")
        memset(&self.prog, 0, sizeof(mw_program))
        self.rate = plan.rate
        # pulse template
        taus, values = plan.template.taus_samples, plan.template.values_ua
        if len(values) != len(taus):
            raise ValueError(f"the pulse template has {len(taus)} times and {len(values)} values: one each")
        _check_limit("the pulse template", len(taus), MW_MAX_BP, "MAX_BREAKPOINTS", "breakpoints")
        if len(taus) < 1:
            raise ValueError("the pulse template has no breakpoint: it needs at least one")
        t.nbp = len(taus)
        for i in range(t.nbp):
            t.tau[i] = taus[i]
            t.v[i] = values[i]
        tpl_finish(t)
        if not rect:
            t.rect = 0          # the general loop for every pulse (verification)
        self.prog.train.sign = plan.sign
        # schedule: one timing kind per class
        sc = plan.schedule
        if not isinstance(sc, plans.SCHEDULES):
            raise TypeError(f"plan.schedule={sc!r} must be one of microwave.plans.SCHEDULES, "
                            f"not {type(sc).__name__}")
        s.has_end = sc.end is not None
        if s.has_end:
            s.end_whole, s.end_frac = sc.end.whole, sc.end.frac
        s.period.den = s.burst_on.den = s.burst_cycle.den = s.delay.den = 1
        if isinstance(sc, plans.RegularSchedule):
            s.kind = MW_SCHED_REGULAR
            _set_rat(&s.period, sc.period)
            _set_rat(&s.delay, sc.delay)
            s.burst_cycle.den = s.delay.den
        elif isinstance(sc, plans.BurstSchedule):
            s.kind = MW_SCHED_REGULAR
            _set_rat(&s.period, sc.period)
            _set_rat(&s.delay, sc.delay)
            s.has_burst = True
            _set_rat(&s.burst_on, sc.burst_on)
            _set_rat(&s.burst_cycle, sc.burst_cycle)
        elif isinstance(sc, plans.SweepSchedule):
            s.kind = MW_SCHED_SWEEP
            s.f0, s.f1, s.sweep_s = sc.start_hz, sc.stop_hz, sc.seconds
            s.sweep_log = sc.log
            s.rate = self.rate
            s.delay_s = sc.delay_s
            s.phase_at_end = sc.phase_at_end_cycles
            held = sc.held(self.rate)     # the tail at stop_hz: a regular train
            s.tail_k = held.first_pulse
            _set_rat(&s.delay, held.onset)
            _set_rat(&s.period, held.period)
        elif isinstance(sc, plans.CustomSchedule):
            s.kind = MW_SCHED_CUSTOM
            self._onsets = np.ascontiguousarray(sc.onsets_samples, dtype=np.float64)
            self._amps = np.ascontiguousarray(sc.amps_ua, dtype=np.float64)
            if len(self._onsets) < 1 or len(self._amps) != len(self._onsets):
                raise ValueError(f"the custom schedule has {len(self._onsets)} onsets and {len(self._amps)} "
                                 f"amplitudes: one each, at least one")
            self._bind_custom()
            s.c_n = len(self._onsets)
            s.c_loop = sc.loop_samples
            s.c_delay = sc.delay_samples
        else:   # a kind in SCHEDULES that this build does not know
            raise TypeError(f"plan.schedule={sc!r}: {type(sc).__name__} is not a timing kind this generator plays")
        # polarity pattern
        pat = plan.pattern
        if pat is not None:
            by_time, kinds, lengths = pat.by_time, pat.kinds, pat.lengths
            _check_limit("the polarity pattern", len(kinds), MW_MAX_STATES, "MAX_STATES", "states")
            if len(lengths) != len(kinds):
                raise ValueError(f"the polarity pattern has {len(kinds)} kinds and {len(lengths)} lengths: one each")
            p.n = len(kinds)
            p.by_time = by_time
            for i in range(p.n):
                p.kind[i] = kinds[i]
                p.length[i] = lengths[i]
        self.prog.train.no_tile = not tile
        self.prog.train.no_slots = not slots
        # one gain a unit: a pulse, or an alternating pair of monophasic pulses
        self.prog.unit_pulses = plan.unit_pulses
        _set_envelope(&self.prog.env, plan.envelope, "the envelope")
        _set_envelope(&self.prog.gate, plan.gate, "the gate")
        program_start(&self.prog)

    def __dealloc__(self):
        program_release(&self.prog)

    cdef void _bind_custom(self):
        cdef double[::1] on = self._onsets
        cdef double[::1] am = self._amps
        self.prog.train.sched.c_onsets = &on[0]
        self.prog.train.sched.c_amps = &am[0]

    def fill(self, out):
        """Write the next ``len(out)`` samples (uA) into ``out``, a writable,
        C-contiguous, 1-D float32 array (or any such buffer).  Anything else
        is refused, naming ``out``, what it is and what is allowed: a
        TypeError for an object that is not a buffer (a list), a ValueError
        for a buffer of another element type, shape, read-only or not
        C-contiguous.

        Continues exactly where the previous call stopped: any sequence of
        calls gives the same samples, bit for bit, as one call of the total
        length.  One thread at a time: a ``fill`` (or ``reset``) while
        another thread is filling the same generator raises RuntimeError
        and touches nothing.

        A fill of ``SPLIT_MIN_SAMPLES`` (2**20) samples or more of a train
        rendered pulse by pulse (a sweep, a custom train looped between
        samples: what is not copied from a tile) runs in two threads where
        the process may run on two processors (:func:`fill_threads`; the
        environment variable ``MICROWAVE_THREADS=1`` keeps it in one): this
        one writes the first half while a second thread moves a copy of
        the generator to the middle and writes the rest (``split_fills``
        counts such fills).  The samples are the same, bit for bit.  A
        session engine never does this (its programs run in the audio
        thread, which must not start threads), and no audio callback asks
        for blocks that large.
        """
        # the buffer protocol directly: a typed memoryview costs more than
        # a small block's worth of synthesis
        cdef Py_buffer view
        cdef Py_ssize_t n
        cdef mw_split job
        if _get_buffer(out, &view, FILL_FLAGS) == -1:
            PyErr_Clear()       # a bare "a bytes-like object is required": said better below
            raise _fill_error(out, "Generator.fill", "out", "(n,)")
        try:
            if view.ndim != 1 or view.itemsize != 4 or not _is_float32(view.format):
                raise _fill_error(out, "Generator.fill", "out", "(n,)")
            n = view.shape[0]
            if n > 0:
                self._enter("fill")
                try:
                    # the threads asked for only where the fill would split
                    # (a bad MICROWAVE_THREADS refuses it, nothing written)
                    if (program_split_fits(&self.prog, n) and fill_threads() > 1
                            and program_split_begin(&self.prog, <float*>view.buf, n, &job)):
                        _fill_split(&self.prog, &job)
                    else:
                        with nogil:
                            program_fill(&self.prog, <float*>view.buf, n, NULL)
                finally:
                    mw_leave(&self.prog.busy)
        finally:
            PyBuffer_Release(&view)

    cdef int _enter(self, str what) except -1:
        if not mw_enter(&self.prog.busy):
            raise RuntimeError(f"Generator.{what}: another thread is filling this generator; a generator "
                               f"is one stream of samples -- give each thread its own (spec.generator(rate))")
        return 0

    def reset(self):
        """Rewind to sample 0."""
        self._enter("reset")
        program_start(&self.prog)
        mw_leave(&self.prog.busy)

    @property
    def position(self):
        """Samples written since the start."""
        return self.prog.train.n

    @property
    def tile_samples(self):
        """Samples of the repeating tile this train copies from (0 until it
        has rendered one whole tile, or if it does not repeat within
        2**18 samples)."""
        return self.prog.train.tile_len if self.prog.train.tile_ready else 0

    @property
    def split_fills(self):
        """Calls of ``fill`` made in two parts (see ``fill``): the second in
        a thread of its own, or where none could be started, after the
        first in this one."""
        return self.prog.train.split_fills

    def program_capsule(self):
        """The C state (mw_program) in a capsule named
        ``"microwave._core.mw_program"``, for compiled code that copies this
        program (the session engine).  The capsule owns nothing: whoever
        opens it keeps this generator alive while it uses the pointer, and
        takes its guard (``busy``) while it reads the state."""
        return PyCapsule_New(<void*>&self.prog, PROGRAM_CAPSULE, NULL)

    def render(self, n):
        """The next ``n`` samples as a new float32 array."""
        n = _count("n", n, 0, MAX_RENDER, "samples")
        out = _new_f32("n", n, (n,))
        self.fill(out)
        return out

    def _schedule_onsets(self, n, skip=0):
        """Onsets ``skip`` to ``skip + n - 1`` of the schedule (fewer where
        the train ends first) as ``sched_next`` gives them to the train:
        (whole samples int64, fraction float64), from a copy of the
        schedule started afresh (this generator does not move).  For the
        tests, which check a sweep's onsets bit for bit: its samples show an
        onset only to float32's precision."""
        n = _count("n", n, 0, MAX_RENDER, "onsets")
        skip = _count("skip", skip, 0, 1 << 62, "onsets")
        cdef mw_schedule sc = self.prog.train.sched
        cdef int64_t w, j, got = 0, left = skip, count = n
        cdef double f, amp
        whole = np.empty(n, dtype=np.int64)
        frac = np.empty(n, dtype=np.float64)
        cdef int64_t[::1] ws = whole
        cdef double[::1] fs = frac
        with nogil:
            sched_reset(&sc)
            while left > 0 and sched_next(&sc, &w, &f, &amp):
                left -= 1
            if left == 0:
                for j in range(count):
                    if not sched_next(&sc, &w, &f, &amp):
                        break
                    ws[j] = w
                    fs[j] = f
                    got += 1
        return whole[:got], frac[:got]
